-- 003: index on items(name)
CREATE INDEX items_name_idx ON items (name);
