SELECT o.seq, o.stix_id, o.type, o.spec_version, o.version, o.date_added, o.author_identity, o.tlp, o.version_text, o.body FROM objects o WHERE o.seq > ?
AND o.tlp = ?
AND ((o.is_head = 1
OR (o.deleted_at IS NULL
AND o.key_revoked_at IS NULL))
AND ((o.type = 'marking-definition'
AND EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = (CASE WHEN o.is_head = 1 THEN o.seq ELSE (SELECT hh.head_seq FROM object_heads hh WHERE hh.stix_id = o.stix_id) END)
AND aud.principal = ?))
OR (o.type = 'marking-definition'
AND (NOT EXISTS (SELECT 1 FROM audience_markings am WHERE am.marking_id = o.stix_id)
OR EXISTS (SELECT 1 FROM marking_audience ma WHERE ma.marking_id = o.stix_id
AND ma.principal IN (?)))
AND EXISTS (SELECT 1 FROM object_markings m0 JOIN objects x0 ON x0.seq = m0.seq WHERE m0.marking_id = o.stix_id
AND m0.seq > o.seq
AND x0.is_head = 1
AND (x0.type <> 'marking-definition'
AND EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = x0.seq
AND aud.principal IN (?))
AND NOT EXISTS (SELECT 1 FROM rules r WHERE r.direction = 'outbound'
AND r.identity = x0.author_identity
AND ((r.effect = 'require'
AND NOT EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?)))
OR (r.effect = 'deny'
AND EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?)))))
AND (NOT (x0.type = 'relationship'
OR x0.type = 'sighting')
OR NOT EXISTS (SELECT 1 FROM object_ends e1 WHERE e1.seq = x0.seq
AND EXISTS (SELECT 1 FROM objects h1 WHERE h1.stix_id = e1.ref_id
AND h1.deleted_at IS NULL
AND h1.key_revoked_at IS NULL)
AND NOT EXISTS (SELECT 1 FROM objects v1 WHERE v1.stix_id = e1.ref_id
AND v1.is_head = 1
AND (v1.type <> 'marking-definition'
AND EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = v1.seq
AND aud.principal IN (?))
AND NOT EXISTS (SELECT 1 FROM rules r WHERE r.direction = 'outbound'
AND r.identity = v1.author_identity
AND ((r.effect = 'require'
AND NOT EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?)))
OR (r.effect = 'deny'
AND EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?))))))))))))
OR (o.type <> 'marking-definition'
AND EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = (CASE WHEN o.is_head = 1 THEN o.seq ELSE (SELECT hh.head_seq FROM object_heads hh WHERE hh.stix_id = o.stix_id) END)
AND aud.principal IN (?))
AND NOT EXISTS (SELECT 1 FROM rules r WHERE r.direction = 'outbound'
AND r.identity = o.author_identity
AND ((r.effect = 'require'
AND NOT EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?)))
OR (r.effect = 'deny'
AND EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?)))))
AND (NOT (o.type = 'relationship'
OR o.type = 'sighting')
OR NOT EXISTS (SELECT 1 FROM object_ends e0 WHERE e0.seq = (CASE WHEN o.is_head = 1 THEN o.seq ELSE (SELECT hh.head_seq FROM object_heads hh WHERE hh.stix_id = o.stix_id) END)
AND EXISTS (SELECT 1 FROM objects h0 WHERE h0.stix_id = e0.ref_id
AND h0.deleted_at IS NULL
AND h0.key_revoked_at IS NULL)
AND NOT EXISTS (SELECT 1 FROM objects v0 WHERE v0.stix_id = e0.ref_id
AND v0.is_head = 1
AND (v0.type <> 'marking-definition'
AND EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = v0.seq
AND aud.principal IN (?))
AND NOT EXISTS (SELECT 1 FROM rules r WHERE r.direction = 'outbound'
AND r.identity = v0.author_identity
AND ((r.effect = 'require'
AND NOT EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?)))
OR (r.effect = 'deny'
AND EXISTS (SELECT 1 FROM rule_values rv WHERE rv.rule_id = r.rule_id
AND rv.value IN (?)))))))))))) ORDER BY o.seq LIMIT ?
-- params: [0, 'clear', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 'public', 101]
