SELECT o.seq, o.stix_id, o.type, o.spec_version, o.version, o.date_added, o.author_identity, o.tlp, o.version_text, o.body FROM objects o WHERE o.seq > ?
AND 0 = 1 ORDER BY o.seq LIMIT ?
-- params: [0, 101]
