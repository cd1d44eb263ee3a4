"""Spark jobs per domain: pure transforms, one I/O module, thin spark-submit entry points."""
