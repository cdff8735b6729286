"""The HTTP API (FastAPI): dashboard and platform endpoints, OAuth callback and QBO webhooks (PRODUCT.md §6).
Lists come from PostgreSQL, per-partner status from the workflow's query; messages go through `starter`."""
