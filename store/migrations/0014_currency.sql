-- Foreign currency (issue 13, PRODUCT.md §4 "Currency"; docs/currency.md).
-- The company's Preferences.CurrencyPrefs, as last read from QBO (NULL: not read yet).
ALTER TABLE qbo_connections ADD COLUMN home_currency char(3);
ALTER TABLE qbo_connections ADD COLUMN multicurrency_enabled boolean;
ALTER TABLE qbo_connections ADD COLUMN currency_prefs_read_at timestamptz;
-- An invoice's ExchangeRate as QBO reports it (home units per one unit of its currency; NULL when QBO
-- sends none: single-currency companies). A Payment on a foreign invoice is sent with it.
ALTER TABLE invoices ADD COLUMN exchange_rate numeric CHECK (exchange_rate > 0);
-- A payout holds payments of one currency (its Deposit is in that currency); NULL for payouts made before.
ALTER TABLE payouts ADD COLUMN currency char(3);
