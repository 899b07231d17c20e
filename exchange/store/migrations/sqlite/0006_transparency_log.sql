-- The transparency log (docs/transparency.md): an RFC 9162 Merkle tree with one leaf per
-- stored object version, appended in the transaction that stores the object. Deletes keep
-- the leaf. Objects stored before this migration get their leaves when the store opens.

-- Which object version each leaf is (leaf_index 0, 1, 2, … in the order they were stored).
CREATE TABLE log_leaves (
    leaf_index BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    stix_id TEXT NOT NULL,
    version TEXT NOT NULL
);
CREATE INDEX log_leaves_object ON log_leaves(stix_id, version);

-- The hash of every complete aligned subtree: node (level, idx) is the root of leaves
-- [idx * 2^level, (idx + 1) * 2^level); level 0 holds the leaf hashes. Proofs and roots
-- are built from O(log n) of these, never by rehashing the log.
CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- The log's Ed25519 keys: the current one (not_after NULL) and the retired ones, whose
-- heads still verify.
CREATE TABLE log_keys (
    key_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    private_key BLOB NOT NULL,
    created TEXT NOT NULL,
    not_after TEXT
);

-- Signed tree heads: the signature is Ed25519 over the JCS of
-- {"tree_size", "root_hash", "timestamp", "key_id"}.
CREATE TABLE log_heads (
    tree_size BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    root_hash TEXT NOT NULL,
    issued TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (tree_size, key_id)
);

-- Members' cosignatures of heads they checked, over the bytes the log key signed; with
-- the C2SP tlog-cosignature line for the checkpoint when the member sent one too.
CREATE TABLE log_cosignatures (
    tree_size BIGINT NOT NULL,
    head_key_id TEXT NOT NULL,
    member TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    created TEXT NOT NULL,
    note_line TEXT,
    PRIMARY KEY (tree_size, head_key_id, key_id)
);

-- C2SP tlog-witness witnesses the exchange asks to cosign its checkpoints: the size each one
-- last cosigned, and the cosignature lines they returned, per head.
CREATE TABLE log_witness_state (
    witness TEXT PRIMARY KEY,
    tree_size BIGINT NOT NULL
);

CREATE TABLE log_witness_cosignatures (
    tree_size BIGINT NOT NULL,
    head_key_id TEXT NOT NULL,
    witness TEXT NOT NULL,
    note_line TEXT NOT NULL,
    PRIMARY KEY (tree_size, head_key_id, witness)
);
