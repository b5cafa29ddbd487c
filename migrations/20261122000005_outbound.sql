-- Outbound messages: who sent them and with which template; uploaded files for outbound media; the per-sender
-- send rate shared by every server process; worker heartbeats (so a killed server's jobs are taken over
-- quickly); and the built-in Twilio sandbox's own records.

ALTER TABLE messages
    -- The agent who sent it (NULL for inbound messages and for API tokens: see author_label).
    ADD COLUMN author_user_id    uuid REFERENCES users (id),
    -- The user's e-mail or the token's name, as the audit log names callers.
    ADD COLUMN author_label      text,
    ADD COLUMN template_id       uuid REFERENCES templates (id) ON DELETE SET NULL,
    -- What Twilio is sent for a template: kept on the message, so that a later edit of the template changes
    -- nothing that is already queued.
    ADD COLUMN content_sid       text,
    ADD COLUMN content_variables jsonb;

-- Files uploaded through the API, to be sent as outbound media. Twilio fetches each from
-- PUBLIC_URL/media/{token}/{filename} while the upload has not expired; the token is the only secret.
CREATE TABLE uploads (
    id           uuid PRIMARY KEY,
    token        text NOT NULL UNIQUE,
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    sha256       text NOT NULL,
    -- Relative to the data directory.
    storage_path text NOT NULL,
    uploaded_by  uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- An outbound attachment points at the upload it was sent from.
ALTER TABLE attachments ADD COLUMN upload_id uuid REFERENCES uploads (id);

-- The next free send slot of each sender ('AC…/whatsapp:+…' or 'AC…/MG…'): every process takes its slots
-- from here, so the configured rate holds across all of them.
CREATE TABLE send_rate (
    sender    text PRIMARY KEY,
    next_slot timestamptz NOT NULL
);

-- Each running worker says it is alive; a running job whose worker stopped saying so is taken over.
CREATE TABLE job_workers (
    id           text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The built-in Twilio sandbox (src/sandbox/). A sandbox account's REST calls go to the server itself.
ALTER TABLE twilio_accounts ADD COLUMN sandbox boolean NOT NULL DEFAULT false;

-- What crossed the sandbox: the business's messages to customers and the customers' messages to the business.
CREATE TABLE sandbox_messages (
    sid               text PRIMARY KEY,
    account_sid       text NOT NULL,
    direction         text NOT NULL CHECK (direction IN ('to_customer', 'from_customer')),
    -- 'whatsapp:+…' or, for a Messaging Service send, the MG… SID.
    business          text NOT NULL,
    -- '+E164'.
    customer          text NOT NULL,
    body              text NOT NULL DEFAULT '',
    media_urls        text[] NOT NULL DEFAULT '{}',
    content_sid       text,
    content_variables jsonb,
    status            text NOT NULL,
    error_code        integer,
    status_callback   text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_messages_customer_idx ON sandbox_messages (account_sid, customer, created_at);

-- Faults the sandbox has been told to answer: the next `remaining` message requests get `http_status`.
CREATE TABLE sandbox_faults (
    account_sid text PRIMARY KEY,
    http_status integer NOT NULL CHECK (http_status IN (429, 500, 503)),
    remaining   integer NOT NULL CHECK (remaining >= 0)
);
