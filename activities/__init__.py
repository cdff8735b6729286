"""Temporal activities: the only place where the workflow's steps touch QBO and PostgreSQL.

Activities are classes with injected clients (an asyncpg pool, the QBO client factory), registered by
`worker.py`. They stage QBO data in PostgreSQL and return ids, counts and cursors, never pages. They may
import `qbo`, `store`, `rules`, `settings` and `workflows.models`, never a workflow class.
"""
