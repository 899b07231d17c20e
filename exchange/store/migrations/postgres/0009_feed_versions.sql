-- The public feeds' Last-Modified: which content (a digest of the bulletins served) each
-- feed last had, and since when. Withdrawals and rule changes alter the content without a
-- timestamp of their own; this keeps Last-Modified moving forward with every change.
CREATE TABLE feed_versions (
    feed TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
