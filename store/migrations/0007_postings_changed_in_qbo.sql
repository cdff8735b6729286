-- Our own postings changed in QBO by a person (PRODUCT.md §3 last row; rules/own_postings.py).
-- qbo_change: what the sync found happened to the QBO Payment / Deposit this service created ('deleted',
--   'voided', 'amount_changed'); set together with status 'needs_attention' and the reason. Such a payment
--   is no longer (fully) in QBO's invoice Balance, so it is not "unposted" either: the invoice balance
--   rule (balance = QBO Balance − payments not yet in QBO) leaves it out and the invoice equals QBO.
--   Cleared when a person re-queues the posting (§6 retry).
-- qbo_sync_token: the newest version of our QBO object the sync checked and found unchanged, so the CDC
--   overlap's re-reads of that version are not staged again (sync_repo._stage_sql).
ALTER TABLE payments ADD COLUMN qbo_change text CHECK (qbo_change IN ('deleted', 'voided', 'amount_changed'));
ALTER TABLE payments ADD COLUMN qbo_sync_token bigint;
ALTER TABLE payouts ADD COLUMN qbo_change text CHECK (qbo_change IN ('deleted', 'voided', 'amount_changed'));
ALTER TABLE payouts ADD COLUMN qbo_sync_token bigint;
-- Staging and apply match CDC objects to our rows by the QBO id we recorded.
CREATE INDEX payments_qbo_payment ON payments (partner_id, qbo_payment_id) WHERE qbo_payment_id IS NOT NULL;
CREATE INDEX payouts_qbo_deposit ON payouts (partner_id, qbo_deposit_id) WHERE qbo_deposit_id IS NOT NULL;
