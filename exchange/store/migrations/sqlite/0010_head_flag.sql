-- Each object's latest live version carries a flag, kept with object_heads by the same
-- transaction: the read query tests the flag on the row it is reading, so the common case
-- (a row that is its object's latest version) needs no probe of object_heads.
ALTER TABLE objects ADD COLUMN is_head INTEGER NOT NULL DEFAULT 0;
UPDATE objects SET is_head = 1 WHERE seq IN (SELECT head_seq FROM object_heads);
