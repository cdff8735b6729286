"""Temporal workflows: deterministic, thin orchestration with no I/O.

Modules here may import `temporalio`, `pydantic`, the standard library and the no-I/O contract modules
(`workflows.models`, `workflows.search_attributes`, `rules`). Activity classes are referenced only inside
`workflow.unsafe.imports_passed_through()`. Never import httpx, asyncpg or the QBO client here: the
sandbox rejects them and determinism forbids them.
"""
