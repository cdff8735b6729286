"""Platform → QBO: post pending payments (batches of ≤ 30, exactly once) and create deposits for payouts."""

from __future__ import annotations

from temporalio import activity

from workflows.models import DepositSummary, PostingInput, PostingSummary


class PostingActivities:
    def __init__(self, pool, qbo) -> None:
        self.pool = pool
        self.qbo = qbo

    @activity.defn
    async def post_payments(self, input: PostingInput) -> PostingSummary:
        raise NotImplementedError

    @activity.defn
    async def create_deposits(self, input: PostingInput) -> DepositSummary:
        raise NotImplementedError
