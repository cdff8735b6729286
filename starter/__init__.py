"""The client side of the workflow, shared by the CLI (`python -m starter`) and the HTTP API: start
(signal-with-start), update, signal and query a partner's workflow. May import `settings`,
`workflows.models` and the workflow class for typed handles; no QBO or SQL here."""
