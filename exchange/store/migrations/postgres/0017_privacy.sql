-- Privacy (docs/privacy.md). Anonymous submissions: the author's original, sealed (only
-- administrators read this table, each opening audited), and the copy the exchange publishes
-- in its place, made and signed at submission and inserted into objects at release_at.
CREATE TABLE sealed (
    sealed_id TEXT PRIMARY KEY,
    copy_id TEXT NOT NULL,
    copy_version TEXT NOT NULL,
    author_member TEXT NOT NULL,
    author_identity TEXT NOT NULL,
    original_id TEXT NOT NULL,
    original_version TEXT NOT NULL,
    key_id TEXT,
    original_body TEXT NOT NULL,
    copy_object TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    release_at TEXT NOT NULL,
    released_at TEXT,
    UNIQUE (copy_id, copy_version)
);
CREATE INDEX sealed_release ON sealed(released_at, release_at);
CREATE INDEX sealed_author ON sealed(author_member);

-- Objects PII screening found personal data in, held for an administrator because their
-- author's standing rules send them to review (exchange admin review list|approve|reject).
CREATE TABLE review_queue (
    review_id TEXT PRIMARY KEY,
    member TEXT NOT NULL,
    status_id TEXT NOT NULL,
    stix_id TEXT NOT NULL,
    version TEXT NOT NULL,
    findings TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    object TEXT NOT NULL
);
CREATE INDEX review_queue_state ON review_queue(state, submitted_at);
CREATE INDEX review_queue_member ON review_queue(member);
