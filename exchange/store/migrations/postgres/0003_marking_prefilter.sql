-- Who may read a marking definition is decided by the objects that reference it. These two
-- tables let the read query rule most readers out with index probes before it looks at
-- those objects: the audience of each audience marking, and the authors that use each marking.
CREATE TABLE marking_audience (
    marking_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (marking_id, principal)
);

CREATE TABLE marking_users (
    marking_id TEXT NOT NULL,
    author_identity TEXT NOT NULL,
    PRIMARY KEY (marking_id, author_identity)
);

INSERT INTO marking_audience (marking_id, principal)
SELECT DISTINCT a.marking_id, j.value FROM audience_markings a, jsonb_array_elements_text(a.entries::jsonb) AS j(value);

INSERT INTO marking_users (marking_id, author_identity)
SELECT DISTINCT m.marking_id, o.author_identity
FROM object_markings m JOIN objects o ON o.seq = m.seq
WHERE o.author_identity IS NOT NULL;
