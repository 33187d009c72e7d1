-- v1: the content generator's jobs (one row per piece of content generated).
CREATE TABLE content_jobs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX content_jobs_status ON content_jobs (status);
