"""The demo partner of `make run` (PRODUCT.md §2): seeded once, on first start."""

from __future__ import annotations

import logging

log = logging.getLogger("devstack")


def seed_demo(settings, env: dict[str, str]) -> None:
    """Placeholder until the API's connect flow exists (issue 8): nothing to seed yet."""
    log.info("demo seeding not available yet")
