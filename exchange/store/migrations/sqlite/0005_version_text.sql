-- Each version's `modified` (else `created`) exactly as the object writes it
-- (`…25.524Z`), which manifest records and version lists serve; `version` stays the
-- normalised form (microseconds) that sorts and matches `match[version]` by instant.
-- NULL for objects that have neither (cyber-observables): their version is `date_added`.
ALTER TABLE objects ADD COLUMN version_text TEXT;
UPDATE objects SET version_text = COALESCE(
    CASE WHEN json_type(body, '$.modified') = 'text' THEN json_extract(body, '$.modified') END,
    CASE WHEN json_type(body, '$.created') = 'text' THEN json_extract(body, '$.created') END);
