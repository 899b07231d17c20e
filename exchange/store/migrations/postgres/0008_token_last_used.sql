-- When each token last authenticated a request (kept to the minute), for `token list`.
ALTER TABLE tokens ADD COLUMN last_used TEXT;
