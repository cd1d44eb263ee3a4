"""Finance tick pipeline: landing -> raw.ticks -> silver.ticks (+ quarantine.ticks) -> gold.ohlcv_1m."""
