"""A QuickBooks Online emulator (PRODUCT.md §7): Accounting API v3, OAuth 2.0 and webhooks over HTTP.

Apart from the product: it imports only `settings` (for the shared client id, secret and verifier token)
and never any product package, so it can't agree with our client by accident.

Run: `python -m qbo_emulator [--port 8010] [--host 127.0.0.1] [--memory | --db PATH]`.

Modules: `app` (factory, `intuit_tid`), `gateway` (auth → throttle → requestid replay → operation),
`api` (v3 routes), `querying`/`query` (query language → SQLite), `cdc`, `batch`, `operations` +
`entities/` (QBO bookkeeping per entity), `oauth`, `webhooks`, `limits` (throttle, fault injection),
`stats`, `config` (switches), `seed` (+ `seed_names`), `store` (SQLite), `wire` (Decimal JSON, Pacific
times), `faults` (error bodies). Admin endpoints: see `admin` (all under `/_emulator/`, OpenAPI at
`/_emulator/docs`).
"""
