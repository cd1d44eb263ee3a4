"""Great Expectations suites, one module per guarded table: ``build(ctx: GateContext) -> list[dict]``."""
