-- 002: items get a status
ALTER TABLE items ADD COLUMN status text NOT NULL DEFAULT 'active';
