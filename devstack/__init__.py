"""The development stack behind `make run`: one supervisor that starts Temporal's dev server, PostgreSQL,
the QBO emulator, the worker and the API as child processes, prefixes their logs, and stops them all.

It may import `settings`, `store` (for the embedded PostgreSQL and migrations) and the search-attribute
definitions; it never imports workflow or activity code into its own process.
"""
