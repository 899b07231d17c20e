-- The audit log: every administrator action and every refused request (who, what, why;
-- never a secret). Append-only: nothing updates or deletes a row but retention.
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    member TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_member ON audit(member);
