"""`soar simulate`: realistic OGN and ADS-B traffic with its ground truth."""
