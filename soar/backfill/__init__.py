"""Backfills: idempotent, resumable repairs over a range of flights (`soar backfill`).

Each works through the range in keyset chunks of flights, one short transaction per
chunk, and decides per chunk from the database's state what still needs doing, so a
re-run continues where an interrupted one stopped and never does a thing twice.
"""
