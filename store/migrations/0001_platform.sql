-- The platform's own tables (PRODUCT.md §3–§6). Ids are opaque text; money is numeric(18,2);
-- instants are timestamptz (QBO's Pacific offsets are normalised on the way in, qbo-reference §2).

CREATE TABLE partners (
    id          text PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One QBO connection per partner. Tokens are AES-GCM ciphertexts (never plaintext), with the key id.
CREATE TABLE qbo_connections (
    partner_id              text PRIMARY KEY REFERENCES partners(id),
    realm_id                text NOT NULL,
    state                   text NOT NULL DEFAULT 'onboarding'
                            CHECK (state IN ('onboarding', 'active', 'needs_reconnect', 'disconnected')),
    company_name            text,
    access_token_enc        bytea,
    refresh_token_enc       bytea,
    token_key_id            text,
    access_expires_at       timestamptz,
    refresh_expires_at      timestamptz,
    refresh_hard_expires_at timestamptz,
    token_version           bigint NOT NULL DEFAULT 0,
    preferences             jsonb NOT NULL DEFAULT '{}',
    cdc_cursor              timestamptz,
    last_full_sweep_at      timestamptz,
    last_synced_at          timestamptz,
    last_error              text,
    connected_at            timestamptz NOT NULL DEFAULT now(),
    disconnected_at         timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
-- A realm feeds at most one live partner: webhooks are routed by realm.
CREATE UNIQUE INDEX qbo_connections_live_realm ON qbo_connections (realm_id) WHERE state <> 'disconnected';

-- One-time OAuth `state` nonces: a signed state can be used once.
CREATE TABLE oauth_states (
    nonce       text PRIMARY KEY,
    partner_id  text NOT NULL REFERENCES partners(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);

-- The partner's chart of accounts, for the preference dropdowns and validation.
CREATE TABLE qbo_accounts (
    partner_id      text NOT NULL REFERENCES partners(id),
    qbo_id          text NOT NULL,
    name            text NOT NULL,
    account_type    text NOT NULL,
    account_subtype text,
    classification  text,
    active          boolean NOT NULL,
    currency        text,
    PRIMARY KEY (partner_id, qbo_id)
);

CREATE TABLE customers (
    id              text PRIMARY KEY,
    partner_id      text NOT NULL REFERENCES partners(id),
    source          text NOT NULL CHECK (source IN ('qbo', 'platform')),
    realm_id        text,
    qbo_id          text,
    qbo_sync_token  bigint,
    qbo_updated_at  timestamptz,
    name            text NOT NULL,
    email           text,
    archived        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((source = 'qbo') = (qbo_id IS NOT NULL AND realm_id IS NOT NULL))
);
CREATE UNIQUE INDEX customers_qbo_identity ON customers (partner_id, realm_id, qbo_id) WHERE qbo_id IS NOT NULL;
CREATE INDEX customers_partner ON customers (partner_id, archived);

CREATE TABLE invoices (
    id              text PRIMARY KEY,
    partner_id      text NOT NULL REFERENCES partners(id),
    source          text NOT NULL CHECK (source IN ('qbo', 'platform')),
    realm_id        text,
    qbo_id          text,
    qbo_sync_token  bigint,
    qbo_updated_at  timestamptz,
    customer_id     text REFERENCES customers(id),
    qbo_customer_id text,
    doc_number      text,
    amount          numeric(18, 2) NOT NULL CHECK (amount >= 0),
    balance         numeric(18, 2) NOT NULL CHECK (balance >= 0),
    currency        char(3) NOT NULL DEFAULT 'USD',
    due_date        date,
    status          text NOT NULL CHECK (status IN ('open', 'partially_paid', 'paid', 'void')),
    archived        boolean NOT NULL DEFAULT false,
    qbo_deleted     boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((source = 'qbo') = (qbo_id IS NOT NULL AND realm_id IS NOT NULL))
);
CREATE UNIQUE INDEX invoices_qbo_identity ON invoices (partner_id, realm_id, qbo_id) WHERE qbo_id IS NOT NULL;
CREATE INDEX invoices_partner ON invoices (partner_id, archived);

-- A platform payment and its posting to QBO (the outbox row: status says which step it reached).
CREATE TABLE payments (
    id              text PRIMARY KEY,
    partner_id      text NOT NULL REFERENCES partners(id),
    invoice_id      text NOT NULL REFERENCES invoices(id),
    amount          numeric(18, 2) NOT NULL CHECK (amount > 0),
    currency        char(3) NOT NULL,
    reference       text,
    status          text NOT NULL CHECK (status IN ('pending', 'posted', 'needs_attention', 'not_synced')),
    qbo_payment_id  text,
    qbo_request_id  text,
    attention_reason text,
    attempts        integer NOT NULL DEFAULT 0,
    posted_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_partner_status ON payments (partner_id, status);
CREATE INDEX payments_invoice ON payments (invoice_id);

CREATE TABLE payouts (
    id              text PRIMARY KEY,
    partner_id      text NOT NULL REFERENCES partners(id),
    gross_amount    numeric(18, 2) NOT NULL CHECK (gross_amount > 0),
    fee_amount      numeric(18, 2) NOT NULL CHECK (fee_amount >= 0),
    net_amount      numeric(18, 2) NOT NULL CHECK (net_amount = gross_amount - fee_amount),
    status          text NOT NULL CHECK (status IN ('pending', 'deposited', 'not_synced', 'needs_attention')),
    qbo_deposit_id  text,
    qbo_request_id  text,
    attention_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payouts_partner_status ON payouts (partner_id, status);

-- A payment belongs to at most one payout.
CREATE TABLE payout_payments (
    payout_id   text NOT NULL REFERENCES payouts(id),
    payment_id  text NOT NULL UNIQUE REFERENCES payments(id),
    PRIMARY KEY (payout_id, payment_id)
);

CREATE TABLE sync_runs (
    id          bigserial PRIMARY KEY,
    partner_id  text NOT NULL REFERENCES partners(id),
    trigger     text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    counts      jsonb NOT NULL DEFAULT '{}',
    conflicts   integer NOT NULL DEFAULT 0,
    errors      integer NOT NULL DEFAULT 0,
    error       text
);
CREATE INDEX sync_runs_partner ON sync_runs (partner_id, started_at DESC);

-- Every conflict, skip and needs-attention item, with its reason: nothing is dropped silently.
CREATE TABLE sync_log (
    id          bigserial PRIMARY KEY,
    partner_id  text NOT NULL REFERENCES partners(id),
    sync_run_id bigint REFERENCES sync_runs(id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('conflict', 'skip', 'needs_attention', 'error', 'info')),
    entity      text,
    qbo_id      text,
    platform_id text,
    reason      text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX sync_log_partner ON sync_log (partner_id, at DESC);
-- The same conflict on the same version is recorded once, however often a retry meets it.
CREATE UNIQUE INDEX sync_log_dedupe ON sync_log (partner_id, kind, entity, qbo_id, (details->>'sync_token'), reason)
    WHERE qbo_id IS NOT NULL;

-- QBO objects fetched but not yet applied: fetch writes here, apply reads from here (no page in history).
CREATE TABLE qbo_staging (
    partner_id      text NOT NULL REFERENCES partners(id),
    realm_id        text NOT NULL,
    entity          text NOT NULL,
    qbo_id          text NOT NULL,
    sync_token      bigint NOT NULL,
    last_updated    timestamptz,
    deleted         boolean NOT NULL DEFAULT false,
    payload         jsonb NOT NULL,
    staged_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, realm_id, entity, qbo_id, sync_token)
);

-- Resumable backfill: the next page to fetch per entity.
CREATE TABLE backfill_progress (
    partner_id      text NOT NULL REFERENCES partners(id),
    entity          text NOT NULL,
    next_position   integer NOT NULL DEFAULT 1,
    fetched         integer NOT NULL DEFAULT 0,
    total           integer,
    done            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (partner_id, entity)
);

-- Webhook deliveries, kept before they are answered: deduped by event id, never lost when Temporal is down.
CREATE TABLE webhook_events (
    event_id        text PRIMARY KEY,
    realm_id        text NOT NULL,
    entity          text,
    entity_id       text,
    operation       text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    routed_at       timestamptz,
    route_result    text
);
CREATE INDEX webhook_events_unrouted ON webhook_events (received_at) WHERE routed_at IS NULL;
