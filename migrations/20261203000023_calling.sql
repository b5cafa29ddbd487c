-- WhatsApp Business Calling (issue 22): numbers that take calls, each queue's waiting strategy, and the calls
-- themselves (src/calling/, src/store/calls.rs).

-- Only a number whose sender has calling enabled at Twilio (a TwiML voice application) offers calls.
ALTER TABLE whatsapp_numbers ADD COLUMN supports_calling boolean NOT NULL DEFAULT false;

-- What a caller hears while the call waits in the queue (domain::call_waiting::WaitingStrategy); NULL: the
-- built-in default, so a caller never hears silence.
ALTER TABLE queues ADD COLUMN waiting_strategy jsonb;

-- One WhatsApp call. Its conversation is the customer's open conversation on the number (or a new one of
-- communication type `call`); the call is routed on its own (a calls queue, an agent), so a chat held by one
-- agent can bring a call that another takes.
CREATE TABLE calls (
    id              uuid PRIMARY KEY,
    call_sid        text NOT NULL UNIQUE,
    channel_id      uuid NOT NULL REFERENCES channels (id),
    number_id       uuid NOT NULL REFERENCES whatsapp_numbers (id),
    contact_id      uuid NOT NULL REFERENCES contacts (id),
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- waiting: in a queue, hearing its waiting strategy; connected: with an agent; ended: see `outcome`.
    state           text NOT NULL CHECK (state IN ('waiting', 'connected', 'ended')),
    -- answered, missed (the maximum wait passed, or the caller hung up while waiting), closed (out of hours),
    -- failed.
    outcome         text CHECK (outcome IN ('answered', 'missed', 'closed', 'failed')),
    queue_id        uuid REFERENCES queues (id),
    agent_id        uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    answered_at     timestamptz,
    ended_at        timestamptz,
    CHECK ((state = 'ended') = (outcome IS NOT NULL AND ended_at IS NOT NULL))
);
-- A waiting call's place in its queue.
CREATE INDEX calls_waiting_idx ON calls (queue_id, created_at) WHERE state = 'waiting';
CREATE INDEX calls_conversation_idx ON calls (conversation_id, created_at);
-- The wait (in seconds) at which the caller was last told their position; announced again a minute later.
ALTER TABLE calls ADD COLUMN position_said_at integer;

-- Offering: a waiting call rings one agent at a time (`offered_to` since `offered_at`); one who declines or lets
-- it ring past `calling.ring_timeout_secs` is passed over and the next eligible agent is tried.
ALTER TABLE calls
    ADD COLUMN offered_to  uuid REFERENCES users (id),
    ADD COLUMN offered_at  timestamptz,
    ADD COLUMN passed_over uuid[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT calls_offer_check CHECK ((offered_to IS NULL) = (offered_at IS NULL)),
    ADD CONSTRAINT calls_offer_waiting_check CHECK (offered_to IS NULL OR state = 'waiting');
CREATE INDEX calls_offer_idx ON calls (coalesce(offered_at, created_at)) WHERE state = 'waiting';

-- The live feed tells the inboxes about calls: the agent it rings (or who has it) sees it as theirs, the
-- queue's and number's agents as their queue's.
CREATE FUNCTION live_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_events (payload) VALUES (json_build_object(
        'kind', 'call', 'c', NEW.conversation_id, 'id', NEW.id, 'n', NEW.number_id, 'q', NEW.queue_id,
        'a', coalesce(NEW.offered_to, NEW.agent_id),
        'pa', CASE WHEN TG_OP = 'UPDATE' THEN coalesce(OLD.offered_to, OLD.agent_id) END)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER calls_live_insert AFTER INSERT ON calls FOR EACH ROW EXECUTE FUNCTION live_call();
CREATE TRIGGER calls_live_update AFTER UPDATE ON calls
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.offered_to IS DISTINCT FROM NEW.offered_to
                       OR OLD.agent_id IS DISTINCT FROM NEW.agent_id)
    EXECUTE FUNCTION live_call();

-- The TwiML voice application agents' browsers call through (the Voice SDK's outgoing grant); with the account's
-- API key it is what GET /voice/token needs.
ALTER TABLE channels ADD COLUMN voice_application_sid text CHECK (voice_application_sid ~ '^AP[0-9a-fA-F]{32}$');
