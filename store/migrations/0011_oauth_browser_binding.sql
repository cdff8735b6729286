-- The OAuth flow is bound to the browser that started it (issue 14 item 4; api/oauth.py): the start link
-- (GET /oauth/qbo/start) sets the browser's cookie once; started_at makes it single-use, so a forwarded
-- start link is refused to whoever opens it second.
ALTER TABLE oauth_states ADD COLUMN started_at timestamptz;
