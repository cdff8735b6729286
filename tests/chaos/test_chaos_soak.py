"""The chaos soak of `make chaos` (bench/chaos.py), 60 seconds with 4 partners: the whole service as real
processes, QBO faults and timeouts (some after the write applied), worker SIGKILLs, a PostgreSQL restart,
bookkeeper changes (among them deleting and voiding Payments and deleting Deposits this service posted),
platform payments, refunds, chargebacks and payouts carrying them, and partners reconnecting to the wrong
company. After it settles: no duplicate QBO Payment, Deposit or RefundReceipt, no lost payment or refund,
no invoice or deposit differing from QBO, every posting the bookkeeper changed flagged `changed_in_qbo` and
none re-posted."""

from __future__ import annotations

import asyncio

import pytest

from bench.chaos import ZEROS, passed, run


@pytest.mark.timeout(480)
def test_a_minute_of_chaos_loses_and_duplicates_nothing(stack_dir) -> None:
    # every_change: each kind of change to our postings is owed by one partner's bookkeeper (one Payment
    # deleted, one voided, one Deposit deleted as soon as there is one), not left to the random draws alone.
    # fast_recovery: settling waits on no 60 s throttle cool-down or 1-2 min retry backoff (the service's
    # clocks, tested on their own in tests/qbo/test_limiter.py and tests/workflows), only on the work
    # (bench/chaos.py `run`): 15-65 s less per run, with the same checks.
    result = asyncio.run(run(duration=60, partners=4, seed=7, data_dir=stack_dir,
                             settle_limit=150, kill_window=0.5, every_change=True, fast_recovery=True))
    assert result["worker_kills"] >= 1 and result["postgres_restarts"] == 1
    assert result["faults_injected"] > 0
    assert result["platform_payments"] > 0 and result["platform_payouts"] > 0
    # refunds and chargebacks, some in payouts (docs/refunds.md), booked exactly once like payments
    assert result["platform_refunds"] > 0, result["actions"]
    assert result["actions"].get("platform_chargeback", 0) >= 1 and result["actions"].get("platform_refund", 0) >= 1
    assert {k: result[k] for k in ZEROS} == dict.fromkeys(ZEROS, 0), result["details"]
    # Partners clicking Connect and choosing another partner's company: refused, every time.
    assert result["actions"].get("wrong_company_refused", 0) >= 1 and result["wrong_company_accepted"] == 0
    # Bookkeepers deleting and voiding our Payments and deleting our Deposits: each one flagged
    # needs_attention / changed_in_qbo with its qbo_change (changes_not_flagged, one of the ZEROS), nothing
    # else flagged, nothing re-posted; rare enough that most payments still flow.
    did = result["actions"]
    assert did.get("qbo_our_payment_deleted", 0) + did.get("qbo_our_payment_voided", 0) >= 1, did
    changed = result["changed_in_qbo"]
    assert sum(n for kind, n in changed.items() if kind.startswith("payment ")) >= 1, changed
    assert sum(changed.values()) < result["platform_payments"] / 5, changed
    assert passed(result), result["details"]  # and no partner's workflow stuck
