"""Pure sync rules (PRODUCT.md §3, §4): decisions with no I/O, no clock, no randomness.

Given what the platform holds and what QBO says, decide what to do. Imports only the standard library and
pydantic, so workflows, activities and tests can all use it.
"""
