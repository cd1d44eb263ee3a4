"""Core of the Iceberg lakehouse: settings, jars, Spark and PyIceberg access, the write path, CLI."""
