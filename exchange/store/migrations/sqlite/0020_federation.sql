-- Federation (docs/federation.md). On the serving side a peer is a member of kind
-- 'exchange' whose 'share' says whether it reads TLP:GREEN; on the importing side each peer
-- it pulls from has a row here, with its cursor, the last signed head of its log it saw,
-- and the lease that keeps two workers from pulling it at once.
ALTER TABLE members ADD COLUMN share TEXT;

CREATE TABLE peers (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    token_sealed TEXT NOT NULL,
    created TEXT NOT NULL,
    added_after TEXT,
    next_cursor TEXT,
    imported INTEGER NOT NULL DEFAULT 0,
    last_pull TEXT,
    head TEXT,
    tree_size INTEGER NOT NULL DEFAULT 0,
    problems TEXT NOT NULL DEFAULT '[]',
    lease_owner TEXT,
    lease_until TEXT
);

-- Keys mirrored from peers' key directories (exchange: the API root of the exchange the
-- key's owner belongs to), and which peer lists which key.
CREATE TABLE peer_keys (
    key_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    public_key TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT,
    revoked_since TEXT,
    exchange TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX peer_keys_identity ON peer_keys(identity);

CREATE TABLE peer_key_sources (
    peer TEXT NOT NULL,
    key_id TEXT NOT NULL,
    PRIMARY KEY (peer, key_id)
);

-- For each imported object version, the proof that it is in the log of the peer it came
-- from: the audit path and the signed head it leads to.
CREATE TABLE peer_proofs (
    stix_id TEXT NOT NULL,
    version TEXT NOT NULL,
    peer TEXT NOT NULL,
    exchange TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    tree_size INTEGER NOT NULL,
    audit_path TEXT NOT NULL,
    head TEXT NOT NULL,
    log_key TEXT NOT NULL,
    PRIMARY KEY (stix_id, version, peer)
);
