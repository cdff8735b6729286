-- Issue 15 item 4: webhook routing coalesces `sync_now` signals (api/webhooks.py, store/sync_requests.py).
-- A row means a routing pass has claimed the partner's signal (requested_at) and, once Temporal took it,
-- that a cycle is due (signalled_at): events arriving meanwhile need no signal of their own, because that
-- cycle's fetch_changes deletes the row before it reads CDC. A table of its own, not a column of
-- qbo_connections: a token refresh holds that row's lock for up to 20 s, and routing must not wait on it.
CREATE TABLE sync_requests (
    partner_id    text PRIMARY KEY REFERENCES partners(id),
    requested_at  timestamptz NOT NULL,
    signalled_at  timestamptz
);
