"""The JSON API under /api/v1, with /metrics and /healthz beside it (FastAPI)."""
