-- The responses of writes sent with an Idempotency-Key header, kept so
-- that a retry of the same request gets the same answer and writes
-- nothing (middleware.Idempotency). A key belongs to the user who sent it
-- (user_id 0: sign-up and login, where the key alone names it within the
-- tenant); no foreign key, so a user's deletion does not wait on them:
-- rows expire (expires_at) and each stored response prunes a few expired
-- ones, through the index on expires_at. fingerprint is the SHA-256 of
-- the request's method, path and body.
CREATE TABLE idempotency_keys (
    user_id      bigint       NOT NULL,
    key          varchar(255) NOT NULL,
    fingerprint  bytea        NOT NULL,
    status       smallint     NOT NULL,
    content_type varchar(255) NOT NULL DEFAULT '',
    body         bytea        NOT NULL,
    expires_at   timestamptz  NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
