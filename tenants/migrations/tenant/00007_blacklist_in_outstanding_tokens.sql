-- A blacklisted refresh token is marked in its own row of
-- outstanding_tokens (blacklisted_at) instead of a row of a second table:
-- blacklisted_tokens held nothing but that date and the row it pointed
-- to, and every refresh, verify and logout planned it, its two indexes and
-- its foreign key, which each backend keeps for every schema it has
-- served (docs/BENCHMARKS.md, "Footprint per schema"). The blacklist check
-- is a look-up of the jti's unique index alone, and an expired token's
-- row takes its blacklisting with it when it is pruned, as the cascade
-- did.
ALTER TABLE outstanding_tokens ADD COLUMN blacklisted_at timestamptz;
UPDATE outstanding_tokens o SET blacklisted_at = b.blacklisted_at
  FROM blacklisted_tokens b
 WHERE b.token_id = o.id;
DROP TABLE blacklisted_tokens;
