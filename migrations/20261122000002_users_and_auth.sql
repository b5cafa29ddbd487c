-- People and programs that use the API: users with roles, browser sessions, API tokens, login throttling and
-- the audit log of administrative changes.

CREATE TABLE users (
    id                   uuid PRIMARY KEY,
    email                text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name                 text NOT NULL DEFAULT '',
    role                 text NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    -- Argon2id, PHC string format. Never returned by the API.
    password_hash        text NOT NULL,
    -- Set for the bootstrap admin and for passwords an admin chose: the user must pick their own first.
    must_change_password boolean NOT NULL DEFAULT false,
    active               boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    last_login_at        timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- A browser session: the cookie carries a random token; only its SHA-256 is stored.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Tokens for automation (`Authorization: Bearer sb_…`): shown once, stored as SHA-256.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_hash   bytea NOT NULL UNIQUE,
    -- The first characters of the token, so people can tell their tokens apart.
    prefix       text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    created_by   uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Failed logins per key ('account:<email>' or 'address:<ip>') in the current window.
CREATE TABLE login_failures (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL
);

-- Every administrative change: who, what, when, before and after (secrets removed before they get here).
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_type  text NOT NULL CHECK (actor_type IN ('user', 'token', 'system', 'cli')),
    actor_id    uuid,
    actor_label text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text,
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
