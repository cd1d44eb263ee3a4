"""Smoke job: proves the Spark -> Iceberg -> catalog path end to end."""
