-- OAuth 2 clients (RFC 6749 §4.4, client credentials): a company's own systems authenticate as a client and get
-- short-lived access tokens carrying some of the client's permissions. Secrets and tokens are stored as SHA-256
-- (256-bit random secrets: a fast hash is right, as for API tokens).
CREATE TABLE oauth_clients (
    id                uuid PRIMARY KEY,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_hash       bytea NOT NULL,
    secret_prefix     text NOT NULL,
    permissions       text[] NOT NULL CHECK (cardinality(permissions) > 0),
    created_by        uuid REFERENCES users (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    secret_rotated_at timestamptz,
    last_used_at      timestamptz,
    revoked_at        timestamptz
);

CREATE TABLE oauth_access_tokens (
    token_hash  bytea PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES oauth_clients (id),
    permissions text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX oauth_access_tokens_expiry_idx ON oauth_access_tokens (expires_at);

-- What an OAuth client changes is audited as its own.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_type_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_actor_type_check
    CHECK (actor_type IN ('user', 'token', 'system', 'cli', 'oauth_client'));
