-- 004: deliberately broken migration (for tests of failed migrations).
-- The first statement is valid and changes the schema; the second fails because the
-- referenced table does not exist. Run inside a transaction, the whole file rolls back;
-- run statement by statement (autocommit), broken_col is left behind.
ALTER TABLE items ADD COLUMN broken_col int;
INSERT INTO items (name) SELECT name FROM no_such_table;
