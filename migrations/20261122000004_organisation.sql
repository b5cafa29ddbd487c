-- How the contact center is organised: agents' capacity, skills and languages; business hours; queues and their
-- members; which agents serve which numbers; templates, canned responses and tags; and the Idempotency-Key
-- record of POST requests.

-- Every user is an agent who can take conversations; the role says what else they may do.
ALTER TABLE users
    -- Most conversations this agent holds at once (0: takes none automatically).
    ADD COLUMN capacity       integer NOT NULL DEFAULT 5 CHECK (capacity BETWEEN 0 AND 100),
    ADD COLUMN skills         text[] NOT NULL DEFAULT '{}',
    -- Language tags the agent serves customers in ('nl', 'en-US', …).
    ADD COLUMN languages      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN deactivated_at timestamptz;

-- A weekly schedule in a time zone, with holidays. `weekly` maps 'monday'…'sunday' to [{open, close}] ranges in
-- local 'HH:MM' (close ≤ open: the range runs past midnight); `holidays` is [{date, name}]. Checked by the API
-- (src/domain/business_hours.rs).
CREATE TABLE business_hours (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone  text NOT NULL,
    weekly     jsonb NOT NULL,
    holidays   jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX business_hours_name_key ON business_hours (lower(name));

CREATE TABLE queues (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description          text NOT NULL DEFAULT '',
    strategy             text NOT NULL DEFAULT 'least_loaded' CHECK (strategy IN ('least_loaded', 'round_robin')),
    -- Higher first when agents free up and several queues wait.
    priority             integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    communication_type   text NOT NULL DEFAULT 'messages' CHECK (communication_type IN ('messages', 'calls', 'both')),
    -- NULL: always open.
    business_hours_id    uuid REFERENCES business_hours (id),
    -- Out of hours: conversations wait for the queue to open, or go to the out-of-hours target.
    outside_hours        text NOT NULL DEFAULT 'wait' CHECK (outside_hours IN ('wait', 'route')),
    outside_hours_queue_id uuid REFERENCES queues (id),
    outside_hours_agent_id uuid REFERENCES users (id),
    -- A conversation waiting longer than this overflows to the overflow queue or agent.
    overflow_after_secs  integer CHECK (overflow_after_secs BETWEEN 10 AND 604800),
    overflow_queue_id    uuid REFERENCES queues (id),
    overflow_agent_id    uuid REFERENCES users (id),
    -- Only agents with all of these skills are eligible.
    required_skills      text[] NOT NULL DEFAULT '{}',
    -- Only agents who speak the conversation's language are eligible.
    match_language       boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    CHECK (num_nonnulls(outside_hours_queue_id, outside_hours_agent_id) = (outside_hours = 'route')::int),
    CHECK (num_nonnulls(overflow_queue_id, overflow_agent_id) = (overflow_after_secs IS NOT NULL)::int)
);
CREATE UNIQUE INDEX queues_name_key ON queues (lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE queue_members (
    queue_id   uuid NOT NULL REFERENCES queues (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue_id, user_id)
);
CREATE INDEX queue_members_user_idx ON queue_members (user_id);

-- Which agents serve a number (its conversations are visible to them).
CREATE TABLE number_members (
    number_id uuid NOT NULL REFERENCES whatsapp_numbers (id),
    user_id   uuid NOT NULL REFERENCES users (id),
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number_id, user_id)
);
CREATE INDEX number_members_user_idx ON number_members (user_id);

ALTER TABLE whatsapp_numbers
    ADD COLUMN default_queue_id  uuid REFERENCES queues (id),
    ADD COLUMN business_hours_id uuid REFERENCES business_hours (id);

-- WhatsApp message templates (Twilio Content API). Outside the 24-hour window only approved ones may be sent.
CREATE TABLE templates (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 512 AND name ~ '^[a-z0-9_]+$'),
    language        text NOT NULL,
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 1024),
    content_sid     text CHECK (content_sid ~ '^HX[0-9a-fA-F]{32}$'),
    category        text NOT NULL DEFAULT 'utility' CHECK (category IN ('utility', 'marketing', 'authentication')),
    approval_status text NOT NULL DEFAULT 'unsubmitted'
        CHECK (approval_status IN ('unsubmitted', 'received', 'pending', 'approved', 'rejected', 'paused', 'disabled')),
    rejection_reason text,
    tags            text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX templates_name_language_key ON templates (name, lower(language));
CREATE UNIQUE INDEX templates_content_sid_key ON templates (content_sid);

-- Saved replies agents insert by typing '/' and the short code.
CREATE TABLE canned_responses (
    id         uuid PRIMARY KEY,
    short_code text NOT NULL CHECK (short_code ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    title      text NOT NULL DEFAULT '',
    text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX canned_responses_short_code_key ON canned_responses (short_code);

CREATE TABLE tags (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    color       text CHECK (color ~ '^#[0-9a-f]{6}$'),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tags_name_key ON tags (lower(name));

-- The first answer to a POST carrying an Idempotency-Key, replayed when the same caller repeats the key.
-- `response` is NULL while the first request is still running.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       smallint,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
