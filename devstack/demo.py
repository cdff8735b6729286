"""The demo partner of `make run` (PRODUCT.md §2): seeded once, on first start."""

from __future__ import annotations

import logging

log = logging.getLogger("devstack")


def seed_demo(stack) -> list[str]:
    """Placeholder until the demo exists (issue 8): returns the extra banner lines."""
    log.info("demo seeding not available yet")
    return []
