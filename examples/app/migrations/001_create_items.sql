-- 001: items table with seed rows
CREATE TABLE items (
    id         serial PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz DEFAULT now()
);

INSERT INTO items (name) VALUES ('alpha'), ('beta'), ('gamma');
