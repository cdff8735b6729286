-- One QBO company per partner (PRODUCT.md §3, §5). Customers and invoices already carry their realm; a
-- payout's Deposit records the realm it was created in, so reconciliation never reads one company's
-- Deposit ids in another (QBO ids are small per-company counters).
ALTER TABLE payouts ADD COLUMN IF NOT EXISTS qbo_realm_id text;
UPDATE payouts po SET qbo_realm_id = c.realm_id FROM qbo_connections c
WHERE c.partner_id = po.partner_id AND po.qbo_deposit_id IS NOT NULL AND po.qbo_realm_id IS NULL;
