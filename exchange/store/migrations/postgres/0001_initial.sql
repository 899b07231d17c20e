CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    identity TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    sector TEXT NOT NULL,
    economy TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL
);

CREATE TABLE tokens (
    token_id TEXT PRIMARY KEY,
    member TEXT NOT NULL REFERENCES members(id),
    token_hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
);

CREATE TABLE keys (
    key_id TEXT PRIMARY KEY,
    member TEXT REFERENCES members(id),
    identity TEXT NOT NULL,
    public_key TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT,
    revoked_since TEXT,
    created TEXT NOT NULL
);
CREATE INDEX keys_member ON keys(member);

CREATE TABLE sharing_groups (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES sharing_groups(name),
    member TEXT NOT NULL REFERENCES members(id),
    PRIMARY KEY (group_name, member)
);
CREATE INDEX group_members_member ON group_members(member);

CREATE TABLE rules (
    rule_id TEXT PRIMARY KEY,
    member TEXT NOT NULL REFERENCES members(id),
    identity TEXT NOT NULL,
    direction TEXT NOT NULL,
    effect TEXT NOT NULL,
    field TEXT,
    created TEXT NOT NULL
);
CREATE INDEX rules_identity ON rules(identity, direction);

CREATE TABLE rule_values (
    rule_id TEXT NOT NULL REFERENCES rules(rule_id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    PRIMARY KEY (rule_id, value)
);

CREATE TABLE objects (
    seq BIGINT PRIMARY KEY,
    stix_id TEXT NOT NULL,
    type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT NOT NULL,
    created TEXT,
    date_added TEXT NOT NULL,
    author_identity TEXT,
    poster_member TEXT,
    tlp TEXT,
    body TEXT NOT NULL,
    deleted_at TEXT,
    UNIQUE (stix_id, version)
);
CREATE INDEX objects_type_seq ON objects(type, seq);
CREATE INDEX objects_date_added ON objects(date_added);
CREATE INDEX objects_author ON objects(author_identity);

CREATE TABLE object_audience (
    seq BIGINT NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (seq, principal)
);

CREATE TABLE object_ends (
    seq BIGINT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (seq, ref_id)
);

CREATE TABLE object_markings (
    seq BIGINT NOT NULL,
    marking_id TEXT NOT NULL,
    PRIMARY KEY (seq, marking_id)
);
CREATE INDEX object_markings_marking ON object_markings(marking_id, seq);

CREATE TABLE audience_markings (
    marking_id TEXT PRIMARY KEY,
    author_identity TEXT,
    entries TEXT NOT NULL
);

CREATE TABLE statuses (
    id TEXT PRIMARY KEY,
    member TEXT NOT NULL,
    created TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX statuses_created ON statuses(created);

CREATE TABLE deliveries (
    member TEXT NOT NULL,
    stix_id TEXT NOT NULL,
    version TEXT NOT NULL,
    delivered TEXT NOT NULL,
    PRIMARY KEY (stix_id, version, member)
);

CREATE TABLE clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_date_added TEXT NOT NULL,
    last_seq BIGINT NOT NULL
);
INSERT INTO clock (id, last_date_added, last_seq) VALUES (1, '1970-01-01T00:00:00.000000Z', 0);
