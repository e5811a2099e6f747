"""What users read from the database: flight lists (and, later, logbooks and exports)."""
