"""The import wing: reading the bank's spreadsheets and GeoJSON, matching rows to archives and
territories, and writing them in one transaction."""
