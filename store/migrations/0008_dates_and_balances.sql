-- Dates and balances (issue 12 part 4; PRODUCT.md §3, §4 "Dates").

-- When the customer paid: the QBO Payment's TxnDate is this instant's day in the partner's time zone
-- (preference `time_zone`), never the day the service posted it. Rows from before: when they were recorded.
ALTER TABLE payments ADD COLUMN paid_at timestamptz NOT NULL DEFAULT now();
UPDATE payments SET paid_at = created_at;

-- The day the payout reaches the bank: the Deposit's TxnDate. The API defaults it to today in the partner's
-- zone; this column default (QBO's own zone) is for rows written by other means. Rows from before: the day
-- they were recorded, in America/Los_Angeles (the only zone there was).
ALTER TABLE payouts ADD COLUMN arrival_date date NOT NULL
    DEFAULT ((now() AT TIME ZONE 'America/Los_Angeles')::date);
UPDATE payouts SET arrival_date = (created_at AT TIME ZONE 'America/Los_Angeles')::date;

-- QBO's own view of a QBO-sourced invoice, as last known (applied by the sync, or learnt by the posting
-- that changed it), so the platform balance (= qbo_balance − payments not yet in QBO, floored at 0) can be
-- recomputed whenever one of its inputs changes, without asking QBO (store/balances.py).
ALTER TABLE invoices ADD COLUMN qbo_balance numeric(18, 2);
ALTER TABLE invoices ADD COLUMN qbo_total numeric(18, 2);
UPDATE invoices i SET qbo_total = i.amount,
       qbo_balance = i.balance + COALESCE((SELECT sum(p.amount) FROM payments p WHERE p.invoice_id = i.id
                                            AND p.status IN ('pending', 'needs_attention')), 0)
WHERE i.source = 'qbo' AND i.status <> 'void';
UPDATE invoices SET qbo_total = amount, qbo_balance = 0 WHERE source = 'qbo' AND status = 'void';
