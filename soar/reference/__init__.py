"""Reference data: OurAirports airports and runways, GeoNames places, OGN's device
database, terrain elevation, the sample recordings, and where their files come from."""
