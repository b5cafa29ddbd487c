-- Automation: what Switchboard says and does by itself. Greeting, out-of-hours message, the reply to media a
-- number does not accept, auto-reply rules, waiting notices and the CSAT survey; every automated message goes
-- through the same send path as an agent's (src/outbound/compose.rs).

-- What a number's automations say, besides `greeting_text` and `csat_enabled` (on the number since the start).
CREATE TABLE number_automation (
    number_id                  uuid PRIMARY KEY REFERENCES whatsapp_numbers (id),
    -- The greeting as a content (with buttons) instead of `greeting_text`; its variables may use placeholders.
    greeting_template_id       uuid REFERENCES templates (id) ON DELETE SET NULL,
    greeting_variables         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(greeting_variables) = 'object'),
    out_of_hours_text          text CHECK (length(out_of_hours_text) BETWEEN 1 AND 1600),
    -- No out-of-hours message when a person replied in the conversation this recently.
    out_of_hours_quiet_minutes integer NOT NULL DEFAULT 30 CHECK (out_of_hours_quiet_minutes BETWEEN 0 AND 1440),
    -- Said when a customer sends media to a number that does not accept it (NULL: a built-in sentence).
    attachments_refused_text   text CHECK (length(attachments_refused_text) BETWEEN 1 AND 1600),
    -- The CSAT survey: scale, texts per language, validity, the template for outside the window (checked by the
    -- API, src/automation/csat.rs).
    csat                       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(csat) = 'object'),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

-- What a queue's automations say.
CREATE TABLE queue_automation (
    queue_id                     uuid PRIMARY KEY REFERENCES queues (id),
    -- Overrides the number's out-of-hours text while the queue's business hours are closed.
    out_of_hours_text            text CHECK (length(out_of_hours_text) BETWEEN 1 AND 1600),
    -- Sent while a conversation waits in the queue; {{position}} and {{estimated_wait}} are filled in.
    waiting_notice_text          text CHECK (length(waiting_notice_text) BETWEEN 1 AND 1600),
    waiting_notice_every_minutes integer NOT NULL DEFAULT 5 CHECK (waiting_notice_every_minutes BETWEEN 1 AND 1440),
    waiting_notice_max           integer NOT NULL DEFAULT 3 CHECK (waiting_notice_max BETWEEN 1 AND 100),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);

-- Ordered auto-reply rules; channel rules are checked before global ones (channel_id NULL), each by position.
CREATE TABLE automation_rules (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel_id    uuid REFERENCES channels (id),
    position      integer NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    -- Routing's conditions, evaluated on each inbound message (src/routing/rules.rs).
    conditions    jsonb NOT NULL DEFAULT '[]',
    -- [{"type": "reply", …}, {"type": "add_tags", …}, …] (src/automation/rules.rs).
    actions       jsonb NOT NULL,
    -- Fires at most once per contact in this many seconds (NULL: on every matching message).
    cooldown_secs integer CHECK (cooldown_secs BETWEEN 1 AND 31536000),
    -- No later rule is evaluated after this one fired.
    stop_after    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX automation_rules_order_idx ON automation_rules (channel_id, position);

-- When each rule last fired for each contact (the cooldown). Claimed with an upsert, so two processes handling
-- two messages of one customer fire a rule once.
CREATE TABLE automation_cooldowns (
    rule_id    uuid NOT NULL REFERENCES automation_rules (id) ON DELETE CASCADE,
    contact_id uuid NOT NULL REFERENCES contacts (id),
    fired_at   timestamptz NOT NULL,
    PRIMARY KEY (rule_id, contact_id)
);

-- Every automation that ran, once per (conversation, automation, period): the key that makes each automated
-- message exactly once whatever number of processes decide it (greeting: one per conversation; out of hours:
-- one per closed period; waiting notice: one per number; rule: one per inbound message; CSAT: one per resolve).
CREATE TABLE automation_runs (
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    kind            text NOT NULL CHECK (kind IN ('greeting', 'out_of_hours', 'attachments_refused', 'rule',
                                                  'waiting_notice', 'csat')),
    key             text NOT NULL,
    -- The message it sent, if any.
    message_id      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, kind, key)
);

-- Set on messages an automation sent: {"kind": "greeting" | "out_of_hours" | …, "rule_id": …}.
ALTER TABLE messages ADD COLUMN automation jsonb;
-- The messages people (and API tokens) wrote, per conversation: when a person last replied, which the greeting
-- and the out-of-hours message ask of every message they look at. Inbound messages are not in it (nothing added
-- to the inbound write).
CREATE INDEX messages_person_idx ON messages (conversation_id, created_at)
    WHERE direction = 'outbound' AND automation IS NULL;

-- Inbound messages the automations have not looked at yet: inserted by the inbound write itself when the number
-- has any automation, deleted by the automation engine in the transaction that sends what they decide. A narrow
-- table of its own: marking the wide message row instead cost a second version of it per message (measured,
-- BENCHMARKS.md). Message ids are UUIDv7, so the primary key is also the order of arrival.
CREATE TABLE automation_inbox (
    message_id uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE
);

-- Media a number does not accept is kept as a record but never downloaded.
ALTER TABLE attachments DROP CONSTRAINT attachments_download_state_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_download_state_check
    CHECK (download_state IN ('pending', 'downloaded', 'failed', 'refused'));

-- Templates know their content type and buttons: inside the 24-hour window interactive content (quick reply,
-- list picker, call to action, card) may be sent without WhatsApp's approval.
ALTER TABLE templates
    ADD COLUMN content_type text NOT NULL DEFAULT 'twilio/text'
        CHECK (content_type IN ('twilio/text', 'twilio/media', 'twilio/quick-reply', 'twilio/list-picker',
                                'twilio/call-to-action', 'twilio/card', 'whatsapp/card', 'whatsapp/authentication',
                                'twilio/location', 'twilio/catalog')),
    -- [{"id": "…", "title": "…"}] for quick replies and list items; [{"type": "URL", "title", "url"}] for actions.
    ADD COLUMN buttons jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(buttons) = 'array');

-- CSAT surveys: one per resolve of a conversation on a number with CSAT on. At most one open (sent or rated and
-- waiting for a comment) per customer and number: a reply is matched to it without reopening the conversation.
CREATE TABLE csat_surveys (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    number_id       uuid NOT NULL REFERENCES whatsapp_numbers (id),
    contact_id      uuid NOT NULL REFERENCES contacts (id),
    -- Who resolved it (the conversation's agent when an automation or token resolved it) and where it was.
    agent_id        uuid REFERENCES users (id),
    queue_id        uuid REFERENCES queues (id),
    -- sent: waiting for a rating; rated: waiting for an optional comment; done; expired; skipped (not sent).
    state           text NOT NULL CHECK (state IN ('sent', 'rated', 'done', 'expired', 'skipped')),
    skip_reason     text,
    -- 5 (1–5) or 3 (three faces, stored as 1, 3, 5).
    scale           smallint NOT NULL CHECK (scale IN (3, 5)),
    message_id      uuid,
    rating          smallint CHECK (rating BETWEEN 1 AND 5),
    comment         text CHECK (length(comment) <= 4096),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    rated_at        timestamptz,
    CHECK (state <> 'rated' OR rating IS NOT NULL)
);
CREATE UNIQUE INDEX csat_surveys_open_key ON csat_surveys (number_id, contact_id) WHERE state IN ('sent', 'rated');
CREATE INDEX csat_surveys_conversation_idx ON csat_surveys (conversation_id);
CREATE INDEX csat_surveys_created_idx ON csat_surveys (created_at);

-- The routing configuration cache also holds what automations read.
CREATE TRIGGER automation_rules_bump AFTER INSERT OR UPDATE OR DELETE ON automation_rules
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();
CREATE TRIGGER number_automation_bump AFTER INSERT OR UPDATE OR DELETE ON number_automation
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();
CREATE TRIGGER queue_automation_bump AFTER INSERT OR UPDATE OR DELETE ON queue_automation
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();

-- Contents created through the built-in sandbox's Content API (`POST /v1/Content`), beside its fixed catalogue.
CREATE TABLE sandbox_contents (
    sid           text PRIMARY KEY,
    account_sid   text NOT NULL,
    friendly_name text NOT NULL DEFAULT '',
    language      text NOT NULL,
    kind          text NOT NULL,
    body          text NOT NULL,
    -- [[title, id], …]
    buttons       jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now()
);
