-- Columns the pure rules (rules/customers.py) need on customers (PRODUCT.md §3; qbo-reference §5.2, §4).
-- qbo_active: QBO's Active flag as last applied. A QBO-sourced customer's `archived` mirrors it (inactive in
--             QBO = archived; reactivated = unarchived), so out-of-order CDC versions converge.
-- qbo_deleted: a QBO tombstone was applied (customers cannot normally be deleted in QBO, but a tombstone is
--              final whatever the entity, exactly like invoices.qbo_deleted in 0001).
ALTER TABLE customers ADD COLUMN IF NOT EXISTS qbo_active boolean;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS qbo_deleted boolean NOT NULL DEFAULT false;
UPDATE customers SET qbo_active = NOT archived WHERE source = 'qbo' AND qbo_active IS NULL;
