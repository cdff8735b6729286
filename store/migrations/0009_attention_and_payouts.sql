-- `needs_attention` is never a dead end (issue 12 part 3; PRODUCT.md §4, §6 retry).
-- attention_code:    machine-readable cause next to the human attention_reason (rules/attention.py), so the
--                    workflow can tell which parked items may have cleared by themselves (customer or
--                    account reactivated, invoice balance raised, reconnected) and retry only those.
-- attention_at:      when the item was (last) parked: a cause is looked at again only when what it depends on
--                    changed after this instant, so a cause that has not cleared costs nothing per cycle.
-- retry_generation:  bumped each time a parked item is put back in line, so the next create carries a new
--                    QBO requestid (QBO would otherwise replay the old failure, qbo-reference §7.5); the
--                    PaymentRefNum / deposit-memo lookup still runs first, so this never makes a duplicate.
ALTER TABLE payments ADD COLUMN attention_code text;
ALTER TABLE payments ADD COLUMN attention_at timestamptz;
-- attention_ref:     for `account_inactive`, a fingerprint of the chart of accounts when it was parked.
ALTER TABLE payments ADD COLUMN attention_ref text;
ALTER TABLE payments ADD COLUMN retry_generation integer NOT NULL DEFAULT 0;
-- Where QBO recorded the payment (its DepositToAccountRef; NULL = QBO's default, Undeposited Funds). A
-- payment recorded straight to a bank account while deposits were off can't be linked into a Deposit.
ALTER TABLE payments ADD COLUMN qbo_deposit_to_account_id text;

ALTER TABLE payouts ADD COLUMN attention_code text;
ALTER TABLE payouts ADD COLUMN attention_at timestamptz;
ALTER TABLE payouts ADD COLUMN attention_ref text;
ALTER TABLE payouts ADD COLUMN retry_generation integer NOT NULL DEFAULT 0;
-- Why a pending payout has no Deposit yet (its payments are pending or need attention).
ALTER TABLE payouts ADD COLUMN waiting_reason text;
-- What the Deposit must total when it can't be the whole net (payments recorded straight to a bank while
-- deposits were off are not in it), and the sentence that says so on the payout.
ALTER TABLE payouts ADD COLUMN deposit_total numeric(18, 2);
ALTER TABLE payouts ADD COLUMN deposit_note text;

CREATE INDEX payments_attention ON payments (partner_id, attention_code) WHERE status = 'needs_attention';
CREATE INDEX payouts_attention ON payouts (partner_id, attention_code) WHERE status = 'needs_attention';
