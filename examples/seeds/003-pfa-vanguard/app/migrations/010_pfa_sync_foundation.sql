-- The production schema before Phase 4 (v1): the feature flags and the write queue the sync uses.
CREATE TABLE feature_flags (
    flag_name text PRIMARY KEY,
    enabled boolean NOT NULL DEFAULT false
);
INSERT INTO feature_flags (flag_name, enabled) VALUES ('auto_sync', true);

CREATE TABLE pfa_write_queue (
    id bigserial PRIMARY KEY,
    pfa_id text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pfa_write_queue_status ON pfa_write_queue (status);
