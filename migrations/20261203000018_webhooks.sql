-- Events and outgoing webhooks: what happens is appended to `events` by triggers, in the writer's own
-- transaction (whoever the writer is), so an event exists exactly when its change committed. Readers (the
-- webhook fan-out, `GET /events`) read finished transactions only, in transaction-id order below the oldest
-- transaction still running, as the live feed does: a row committed late is never skipped. Unlike the live feed
-- the table is logged: a webhook's events survive a crash.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    type            text NOT NULL,
    conversation_id uuid,
    number_id       uuid,
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_order_idx ON events (xid, id);
CREATE INDEX events_created_idx ON events (created_at);

CREATE FUNCTION event_message() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    conv record;
    kind text;
BEGIN
    SELECT number_id, contact_id INTO conv FROM conversations WHERE id = NEW.conversation_id;
    IF TG_OP = 'INSERT' THEN
        IF NEW.direction <> 'inbound' THEN
            RETURN NULL;
        END IF;
        kind := 'message.received';
    ELSE
        IF NEW.direction <> 'outbound' OR OLD.status IS NOT DISTINCT FROM NEW.status THEN
            RETURN NULL;
        END IF;
        IF OLD.status = 'queued' AND NEW.status = 'sent' THEN
            INSERT INTO events (type, conversation_id, number_id, data) VALUES ('message.sent', NEW.conversation_id,
                conv.number_id, jsonb_build_object('message_id', NEW.id, 'conversation_id', NEW.conversation_id,
                    'contact_id', conv.contact_id, 'number_id', conv.number_id, 'twilio_sid', NEW.twilio_sid));
        END IF;
        kind := CASE WHEN NEW.automation->>'kind' = 'notification' THEN 'notification.status' ELSE 'message.status' END;
    END IF;
    INSERT INTO events (type, conversation_id, number_id, data) VALUES (kind, NEW.conversation_id, conv.number_id,
        jsonb_strip_nulls(jsonb_build_object(
            'message_id', NEW.id, 'conversation_id', NEW.conversation_id, 'contact_id', conv.contact_id,
            'number_id', conv.number_id, 'direction', NEW.direction, 'status', NEW.status,
            'body', CASE WHEN TG_OP = 'INSERT' THEN NEW.body END,
            'message_type', CASE WHEN TG_OP = 'INSERT' THEN NEW.message_type END,
            'num_media', CASE WHEN TG_OP = 'INSERT' THEN NEW.num_media END,
            'twilio_sid', NEW.twilio_sid, 'error_code', NEW.error_code, 'error_message', NEW.error_message)));
    RETURN NULL;
END $$;
CREATE TRIGGER messages_events AFTER INSERT OR UPDATE OF status ON messages
    FOR EACH ROW EXECUTE FUNCTION event_message();

CREATE FUNCTION event_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    body jsonb := jsonb_build_object('conversation_id', NEW.id, 'contact_id', NEW.contact_id,
        'number_id', NEW.number_id, 'channel_id', NEW.channel_id, 'status', NEW.status,
        'routing_state', NEW.routing_state, 'queue_id', NEW.queue_id, 'assignee_id', NEW.assignee_id,
        'started_by', NEW.started_by);
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO events (type, conversation_id, number_id, data) VALUES ('conversation.created', NEW.id,
            NEW.number_id, body);
    END IF;
    IF NEW.assignee_id IS NOT NULL AND NEW.status <> 'resolved'
       AND (TG_OP = 'INSERT' OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id) THEN
        INSERT INTO events (type, conversation_id, number_id, data) VALUES ('conversation.assigned', NEW.id,
            NEW.number_id, body);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status = 'resolved' AND OLD.status <> 'resolved' THEN
        INSERT INTO events (type, conversation_id, number_id, data) VALUES ('conversation.resolved', NEW.id,
            NEW.number_id, body);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_events_insert AFTER INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION event_conversation();
CREATE TRIGGER conversations_events_update AFTER UPDATE OF assignee_id, status ON conversations
    FOR EACH ROW WHEN (OLD.assignee_id IS DISTINCT FROM NEW.assignee_id OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION event_conversation();

CREATE FUNCTION event_opt_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (type, number_id, data) VALUES ('contact.opt_in_changed', NEW.number_id,
        jsonb_strip_nulls(jsonb_build_object('contact_id', NEW.contact_id, 'number_id', NEW.number_id,
            'state', NEW.state, 'source', NEW.source, 'recorded_at', NEW.recorded_at)));
    RETURN NULL;
END $$;
CREATE TRIGGER opt_ins_events AFTER INSERT ON opt_ins FOR EACH ROW EXECUTE FUNCTION event_opt_in();

CREATE FUNCTION event_csat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (type, conversation_id, number_id, data) VALUES ('csat.rated', NEW.conversation_id,
        NEW.number_id, jsonb_strip_nulls(jsonb_build_object('conversation_id', NEW.conversation_id,
            'contact_id', NEW.contact_id, 'number_id', NEW.number_id, 'agent_id', NEW.agent_id,
            'rating', NEW.rating)));
    RETURN NULL;
END $$;
CREATE TRIGGER csat_events AFTER UPDATE OF rating ON csat_surveys
    FOR EACH ROW WHEN (NEW.rating IS NOT NULL AND OLD.rating IS DISTINCT FROM NEW.rating)
    EXECUTE FUNCTION event_csat();

-- Subscriptions: where events are posted, signed with the subscription's secret (encrypted like Auth Tokens).
-- Each reads `events` from its own cursor (`cursor_xid`, `cursor_id`): the fan-out turns matching events into
-- deliveries and moves the cursor in one transaction.
CREATE TABLE webhooks (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url                  text NOT NULL,
    events               text[] NOT NULL CHECK (cardinality(events) > 0),
    -- Only events of these numbers; empty: every number.
    number_ids           uuid[] NOT NULL DEFAULT '{}',
    secret_encrypted     bytea NOT NULL,
    enabled              boolean NOT NULL DEFAULT true,
    disabled_reason      text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    cursor_xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    cursor_id            bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz
);

CREATE TABLE webhook_deliveries (
    id             uuid PRIMARY KEY,
    webhook_id     uuid NOT NULL REFERENCES webhooks (id),
    event_id       bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- Deliveries of one key go in order: the conversation's id, or the event's own id for the rest.
    ordering_key   text NOT NULL,
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    next_at        timestamptz NOT NULL DEFAULT now(),
    -- A delivery being sent is leased; a process that dies mid-way leaves it to be sent again after this.
    leased_until   timestamptz,
    last_status    integer,
    last_error     text,
    redelivery_of  uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    delivered_at   timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, ordering_key, event_id)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC);
