"""The HTTP server `salesgenie serve` runs: one FastAPI app (see app.create_app)."""
