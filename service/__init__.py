"""twinwatch scan service (FastAPI)."""
