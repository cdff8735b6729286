"""Operations that combine QBO and PostgreSQL outside a workflow, for the API and the CLI as well as the
activities: voiding an invoice (`services.void`) and reading a reconciliation report (`services.reconcile`).
Nothing here is an activity; nothing here imports Temporal."""
