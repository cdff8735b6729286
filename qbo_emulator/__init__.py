"""A QuickBooks Online emulator (PRODUCT.md §7): Accounting API v3, OAuth 2.0 and webhooks over HTTP.

Apart from the product: it imports only `settings` (for the shared client id, secret and verifier token)
and never any product package, so it can't agree with our client by accident.
"""
