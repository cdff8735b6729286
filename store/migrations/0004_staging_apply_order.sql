-- Apply reads staged objects per (partner, entity) in (realm, qbo_id) order and seeks past the last key it
-- applied; this index serves that seek directly (the primary key has entity in the middle).
CREATE INDEX qbo_staging_apply_order ON qbo_staging (partner_id, entity, realm_id, qbo_id, sync_token);
