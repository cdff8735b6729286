-- Refunds and chargebacks of platform payments (issue 13; PRODUCT.md §4, §6; docs/refunds.md).

-- A refund is its own outbox row, like a payment: `attempts` and `qbo_request_id` are committed before
-- anything is sent, `retry_generation` gives a requeued refund a new requestid.
-- booking: how it reached QBO (rules/refunds.py): 'netted' (taken off the payment before the payment was
--   first sent: QBO never sees it), 'reduced' / 'voided' (the QBO Payment lowered, or voided when the refunds
--   reach its whole amount), 'refund_receipt' (the payment was deposited: a RefundReceipt from the clearing
--   account, qbo_refund_receipt_id). NULL until booked, and for a refund of a platform-invoice payment.
CREATE TABLE refunds (
    id                    text PRIMARY KEY,
    partner_id            text NOT NULL REFERENCES partners(id),
    payment_id            text NOT NULL REFERENCES payments(id),
    amount                numeric(18, 2) NOT NULL CHECK (amount > 0),
    kind                  text NOT NULL CHECK (kind IN ('refund', 'chargeback')),
    reason                text,
    status                text NOT NULL CHECK (status IN ('pending', 'posted', 'needs_attention', 'not_synced')),
    booking               text CHECK (booking IN ('netted', 'reduced', 'voided', 'refund_receipt')),
    qbo_refund_receipt_id text,
    qbo_request_id        text,
    attempts              integer NOT NULL DEFAULT 0,
    retry_generation      integer NOT NULL DEFAULT 0,
    attention_reason      text,
    attention_code        text,
    attention_at          timestamptz,
    attention_ref         text,
    posted_at             timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_partner_status ON refunds (partner_id, status);

-- A refund is paid out (taken from the processor's payout) in at most one payout.
CREATE TABLE payout_refunds (
    payout_id  text NOT NULL REFERENCES payouts(id),
    refund_id  text NOT NULL UNIQUE REFERENCES refunds(id),
    PRIMARY KEY (payout_id, refund_id)
);

-- refunded_amount: Σ refunds of the payment; the bound holds even if two requests raced past the row lock.
-- netted_amount:   refunds taken off before the payment was first sent: the QBO Payment is for
--                  amount − netted_amount (frozen once an attempt is recorded; 0 left = status 'refunded').
-- qbo_amount:      what our QBO Payment holds now (amount − netted − reduced; 0 once voided), NULL until
--                  posted: what the sync, the reconciliation and the Deposit line compare with.
ALTER TABLE payments ADD COLUMN refunded_amount numeric(18, 2) NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN netted_amount numeric(18, 2) NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN qbo_amount numeric(18, 2);
ALTER TABLE payments ADD CONSTRAINT payments_refunds_bounded
    CHECK (refunded_amount >= 0 AND netted_amount >= 0 AND netted_amount <= refunded_amount
           AND refunded_amount <= amount);
UPDATE payments SET qbo_amount = amount WHERE status = 'posted';
-- 'refunded': refunded in full before it was ever sent to QBO, so it never reaches QBO at all.
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('pending', 'posted', 'needs_attention', 'not_synced', 'refunded'));

-- net = payments − refunds − fees (PRODUCT.md §6).
ALTER TABLE payouts ADD COLUMN refund_amount numeric(18, 2) NOT NULL DEFAULT 0 CHECK (refund_amount >= 0);
ALTER TABLE payouts DROP CONSTRAINT payouts_check;
ALTER TABLE payouts ADD CONSTRAINT payouts_net_check CHECK (net_amount = gross_amount - refund_amount - fee_amount);
