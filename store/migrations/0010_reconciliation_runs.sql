-- Reconciliation runs (PRODUCT.md §6): requested by the dashboard, run by the partner's workflow within the
-- realm's QBO budget, answered from here. At most one open (requested or running) run per partner, so a
-- second click joins the first.
CREATE TABLE reconciliation_runs (
    id            bigserial PRIMARY KEY,
    partner_id    text NOT NULL REFERENCES partners(id),
    realm_id      text,
    status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'running', 'finished')),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    report        jsonb
);
CREATE UNIQUE INDEX reconciliation_runs_open ON reconciliation_runs (partner_id) WHERE status <> 'finished';
CREATE INDEX reconciliation_runs_latest ON reconciliation_runs (partner_id, id DESC);
