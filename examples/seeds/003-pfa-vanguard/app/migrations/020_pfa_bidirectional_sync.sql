-- ADR-008 Phase 4 (v2): bi-directional PEMS sync - conflicts and the queue's retry bookkeeping.
ALTER TABLE pfa_write_queue ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE pfa_write_queue ADD COLUMN last_error text;

CREATE TABLE pfa_sync_conflict (
    id bigserial PRIMARY KEY,
    pfa_id text NOT NULL,
    local_version jsonb NOT NULL,
    remote_version jsonb NOT NULL,
    resolution text CHECK (resolution IN ('auto', 'manual')),
    detected_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE INDEX pfa_sync_conflict_unresolved ON pfa_sync_conflict (detected_at) WHERE resolved_at IS NULL;
