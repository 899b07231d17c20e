-- The key that signed each object version, so that `key revoke --since` withdraws what it
-- signed from every read path.
ALTER TABLE objects ADD COLUMN key_id TEXT;
UPDATE objects SET key_id = (body::jsonb -> 'extensions' -> 'extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1' ->> 'key_id');
CREATE INDEX objects_key ON objects(key_id);
-- Set when the signing key is revoked for the object's version: withdrawn from every read.
ALTER TABLE objects ADD COLUMN key_revoked_at TEXT;
UPDATE objects SET key_revoked_at = (SELECT k.revoked_since FROM keys k
    WHERE k.key_id = objects.key_id AND k.revoked_since <= objects.version);

-- Audience markings never change: one audience per marking, the one its objects were
-- classified under (audience_markings kept the first version's entries).
DELETE FROM marking_audience;
INSERT INTO marking_audience (marking_id, principal)
SELECT DISTINCT a.marking_id, j.value FROM audience_markings a, jsonb_array_elements_text(a.entries::jsonb) AS j(value);

-- The latest live version of each object (neither deleted nor withdrawn by a key
-- revocation): it decides who reads every version. Kept by the store in the transaction
-- that inserts, deletes or revokes; the read query joins it by primary key.
CREATE TABLE object_heads (
    stix_id TEXT PRIMARY KEY,
    head_seq BIGINT NOT NULL UNIQUE
);
INSERT INTO object_heads (stix_id, head_seq)
SELECT o.stix_id, o.seq FROM objects o
WHERE o.deleted_at IS NULL AND o.key_revoked_at IS NULL
AND NOT EXISTS (SELECT 1 FROM objects n WHERE n.stix_id = o.stix_id AND n.version > o.version
    AND n.deleted_at IS NULL AND n.key_revoked_at IS NULL);
