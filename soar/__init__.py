"""soar: flight-tracking ingest (OGN APRS and ADS-B Beast to TimescaleDB fixes and flights)."""

__version__ = "0.1.0"
