"""The QBO Accounting API v3 and OAuth 2.0 client used by activities (httpx, async).

Typed models, a query builder, CDC, writes with `requestid`, an error hierarchy that Temporal retry
policies understand, a per-realm rate limiter, OAuth with rotation and encrypted token storage.
May import `settings`; never Temporal workflows. Facts: ../shared/qbo-reference.md.
"""
