-- v2: where each piece of content went (email, platform), for the delivery success rate.
CREATE TABLE delivery_log (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES content_jobs (id),
    channel text NOT NULL,
    delivered_at timestamptz,
    error text
);
