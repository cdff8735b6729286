-- Issue 14 item 9: the worker purges expired OAuth states and old routed webhook events (store/housekeeping.py);
-- these indexes keep each purge pass an index range scan instead of a full-table scan.
CREATE INDEX oauth_states_created ON oauth_states (created_at);
CREATE INDEX webhook_events_routed ON webhook_events (routed_at) WHERE routed_at IS NOT NULL;
