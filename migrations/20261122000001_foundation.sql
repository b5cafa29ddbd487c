-- Foundation: Twilio accounts, channels and their WhatsApp numbers, contacts, conversations, messages,
-- attachments and the durable job queue.

CREATE TABLE twilio_accounts (
    id                   uuid PRIMARY KEY,
    account_sid          text NOT NULL UNIQUE CHECK (account_sid ~ '^AC[0-9a-fA-F]{32}$'),
    -- Encrypted with the master key (see src/secrets.rs); never stored or returned in clear.
    auth_token           bytea,
    -- Accepted for webhook signatures beside the primary while an Auth Token is being rotated.
    secondary_auth_token bytea,
    api_key_sid          text CHECK (api_key_sid ~ '^SK[0-9a-fA-F]{32}$'),
    api_key_secret       bytea,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (auth_token IS NOT NULL OR api_key_sid IS NOT NULL),
    CHECK ((api_key_sid IS NULL) = (api_key_secret IS NULL))
);

CREATE TABLE channels (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    account_id            uuid NOT NULL REFERENCES twilio_accounts (id),
    -- 'sender': a WhatsApp number is the From; 'messaging_service': Twilio's Messaging Service picks it.
    sending_mode          text NOT NULL CHECK (sending_mode IN ('sender', 'messaging_service')),
    messaging_service_sid text CHECK (messaging_service_sid ~ '^MG[0-9a-fA-F]{32}$'),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- A deleted channel receives nothing new; its history stays readable.
    deleted_at            timestamptz,
    CHECK ((sending_mode = 'messaging_service') = (messaging_service_sid IS NOT NULL))
);
CREATE UNIQUE INDEX channels_messaging_service_sid_key ON channels (messaging_service_sid) WHERE deleted_at IS NULL;

CREATE TABLE whatsapp_numbers (
    id         uuid PRIMARY KEY,
    channel_id uuid NOT NULL REFERENCES channels (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    e164       text NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE UNIQUE INDEX whatsapp_numbers_channel_e164_key ON whatsapp_numbers (channel_id, e164) WHERE deleted_at IS NULL;

CREATE TABLE contacts (
    id           uuid PRIMARY KEY,
    -- E.164, parsed by the application before it gets here (no regex CHECK: this row is upserted by every
    -- inbound message, and the check cost more than the rest of the upsert).
    phone_e164   text,
    wa_id        text,
    -- WhatsApp business-scoped user id (e.g. 'US.123…'), when Twilio sends one.
    bsuid        text,
    profile_name text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (phone_e164 IS NOT NULL OR bsuid IS NOT NULL)
);
CREATE UNIQUE INDEX contacts_phone_e164_key ON contacts (phone_e164);
CREATE UNIQUE INDEX contacts_bsuid_key ON contacts (bsuid);
ALTER TABLE contacts SET (fillfactor = 85);

CREATE TABLE conversations (
    id              uuid PRIMARY KEY,
    channel_id      uuid NOT NULL REFERENCES channels (id),
    number_id       uuid NOT NULL REFERENCES whatsapp_numbers (id),
    contact_id      uuid NOT NULL REFERENCES contacts (id),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved')),
    -- The customer's last inbound message: the 24-hour window is counted from here. Only ever moves forward.
    last_inbound_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz
);
-- At most one conversation per customer and number that is not resolved: new messages join it.
CREATE UNIQUE INDEX conversations_active_key ON conversations (number_id, contact_id) WHERE status <> 'resolved';
CREATE INDEX conversations_contact_idx ON conversations (contact_id);
CREATE INDEX conversations_channel_idx ON conversations (channel_id);
-- Every inbound message updates its conversation and contact: leave room on each page so those updates stay
-- HOT (no index writes), and index no column they change.
ALTER TABLE conversations SET (fillfactor = 85);

CREATE TABLE messages (
    id                   uuid PRIMARY KEY,
    conversation_id      uuid NOT NULL REFERENCES conversations (id),
    -- The account the SID belongs to: Twilio SIDs are unique per account.
    account_id           uuid NOT NULL REFERENCES twilio_accounts (id),
    direction            text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- Twilio's MessageSid: unique per account; NULL for an outbound message not yet accepted by Twilio.
    twilio_sid           text,
    body                 text NOT NULL DEFAULT '',
    status               text NOT NULL,
    status_updated_at    timestamptz,
    error_code           integer,
    error_message        text,
    message_type         text,
    num_media            integer NOT NULL DEFAULT 0,
    button_text          text,
    button_payload       text,
    latitude             double precision,
    longitude            double precision,
    location_address     text,
    location_label       text,
    replied_to_sid       text,
    referral             jsonb,
    forwarded            boolean NOT NULL DEFAULT false,
    frequently_forwarded boolean NOT NULL DEFAULT false,
    -- Every parameter of the webhook that delivered the message, as received (repeated names as arrays).
    webhook_params       jsonb,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX messages_account_sid_key ON messages (account_id, twilio_sid);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at);

CREATE TABLE attachments (
    id             uuid PRIMARY KEY,
    message_id     uuid NOT NULL REFERENCES messages (id),
    position       smallint NOT NULL,
    source_url     text,
    content_type   text,
    size_bytes     bigint,
    -- Relative to the data directory.
    storage_path   text,
    filename       text,
    sha256         text,
    download_state text NOT NULL CHECK (download_state IN ('pending', 'downloaded', 'failed')),
    download_error text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, position)
);

-- Durable background work. Claimed with FOR UPDATE SKIP LOCKED; a job whose worker died is taken over when its
-- lease expires; deleted when done; kept as 'failed' (visible) after its last attempt.
CREATE TABLE jobs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer,
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_at    timestamptz,
    locked_by    text,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE state = 'pending';
CREATE INDEX jobs_running_idx ON jobs (locked_at) WHERE state = 'running';

-- Wake idle workers as soon as a job is committed (notifications are delivered at commit, de-duplicated per
-- transaction); workers also poll, so a lost notification only delays.
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_jobs', '');
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_notify();
