"""Feeds: where messages come from and what they say, with no database and no pipeline.

`ogn` (APRS/OGN lines -> Fix | ReceiverBeacon | Reject), `aprs_client` (APRS-IS TCP),
`beast` (Beast framing), `modes` (Mode-S frames -> Fix | Reject, CPR state per
aircraft), `beast_client` (Beast TCP), `sbs` (SBS/BaseStation lines -> Fix | Reject,
merged per aircraft), `sbs_client` (SBS TCP), `recordings` (replay of recorded feeds
as chunks of `soar.records.Message`), `parse_pool` (APRS parsing in another process).
"""
