-- Set by the OAuth callback before it starts (or signals) the partner's workflow, cleared once Temporal
-- took it: a callback that met Temporal down leaves it set, and the API's retry loop finishes the job.
ALTER TABLE qbo_connections ADD COLUMN workflow_pending boolean NOT NULL DEFAULT false;
