-- Routing: who owns each conversation (a queue it waits in, a human agent, or the AI agent), the rules that
-- decide it, agents' presence and load, and the conversation timeline.

-- What routing rules can look at about a customer.
ALTER TABLE contacts
    -- Free-form attributes set through the API (`{"tier": "gold"}`), compared by routing rules.
    ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    ADD COLUMN tags       text[] NOT NULL DEFAULT '{}',
    -- The customer's language tag when known ('nl', 'pt-BR'); otherwise the number's language is assumed.
    ADD COLUMN language   text;

-- Routing state of a conversation:
--   unrouted  needs a routing decision (every new conversation starts here; the router picks it up)
--   waiting   waits in `queue_id` (or for `waiting_agent_id`) for an eligible agent
--   assigned  held by the human agent `assignee_id`
--   ai        owned by the AI agent until it hands over (the conversation is then `pending`)
--   unowned   no rule matched and the number has no default queue: its agents may claim it
-- `assignee_id` is the agent holding it; it stays set after a resolve, naming the customer's last agent.
ALTER TABLE conversations
    ADD COLUMN routing_state      text NOT NULL DEFAULT 'unrouted'
        CHECK (routing_state IN ('unrouted', 'waiting', 'assigned', 'ai', 'unowned')),
    ADD COLUMN communication_type text NOT NULL DEFAULT 'message' CHECK (communication_type IN ('message', 'call')),
    ADD COLUMN priority           integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    ADD COLUMN queue_id           uuid REFERENCES queues (id),
    ADD COLUMN assignee_id        uuid REFERENCES users (id),
    -- A conversation routed to a named agent who cannot take it now waits for that agent.
    ADD COLUMN waiting_agent_id   uuid REFERENCES users (id),
    -- When it entered its current queue (or began waiting for its agent): orders the wait, starts overflow.
    ADD COLUMN queued_at          timestamptz,
    ADD COLUMN assigned_at        timestamptz,
    -- Set by a hand-over: the AI agent does not take it again.
    ADD COLUMN ai_done            boolean NOT NULL DEFAULT false,
    -- The rule that decided the last routing, if one did.
    ADD COLUMN routing_rule_id    uuid,
    ADD CHECK (status = 'resolved' OR (routing_state = 'assigned') = (assignee_id IS NOT NULL)),
    ADD CHECK (routing_state <> 'waiting' OR queue_id IS NOT NULL OR waiting_agent_id IS NOT NULL);

-- The router's work lists, small partial indexes: only conversations that need it.
CREATE INDEX conversations_unrouted_idx ON conversations (created_at) WHERE routing_state = 'unrouted' AND status <> 'resolved';
CREATE INDEX conversations_waiting_idx ON conversations (queue_id, priority DESC, queued_at)
    WHERE routing_state = 'waiting' AND status <> 'resolved';
CREATE INDEX conversations_assignee_idx ON conversations (assignee_id, created_at) WHERE assignee_id IS NOT NULL;

-- Presence and load of agents.
ALTER TABLE users
    ADD COLUMN presence            text NOT NULL DEFAULT 'offline' CHECK (presence IN ('online', 'away', 'offline')),
    ADD COLUMN presence_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Conversations this agent holds that are not resolved. Kept by the trigger below, never by hand, so it
    -- cannot drift from the conversations themselves.
    ADD COLUMN load                integer NOT NULL DEFAULT 0 CHECK (load >= 0),
    ADD COLUMN last_assigned_at    timestamptz,
    -- When the agent's last live connection closed; NULL while one is open or none ever was.
    ADD COLUMN disconnected_at     timestamptz;

CREATE FUNCTION conversations_keep_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.assignee_id IS NOT NULL AND OLD.status <> 'resolved' THEN
        UPDATE users SET load = load - 1 WHERE id = OLD.assignee_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.assignee_id IS NOT NULL AND NEW.status <> 'resolved' THEN
        UPDATE users SET load = load + 1 WHERE id = NEW.assignee_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER conversations_load_insert AFTER INSERT ON conversations
    FOR EACH ROW WHEN (NEW.assignee_id IS NOT NULL) EXECUTE FUNCTION conversations_keep_load();
CREATE TRIGGER conversations_load_update AFTER UPDATE OF assignee_id, status ON conversations
    FOR EACH ROW WHEN (OLD.assignee_id IS DISTINCT FROM NEW.assignee_id OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION conversations_keep_load();
CREATE TRIGGER conversations_load_delete AFTER DELETE ON conversations
    FOR EACH ROW WHEN (OLD.assignee_id IS NOT NULL) EXECUTE FUNCTION conversations_keep_load();

-- Live connections (the inbox's WebSocket) per agent and server process; a process's rows go with it.
CREATE TABLE agent_connections (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    worker_id  text NOT NULL,
    opened_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_connections_user_idx ON agent_connections (user_id);

ALTER TABLE queues
    -- Offer a returning customer's conversation to their last agent first, when that agent is eligible.
    ADD COLUMN prefer_last_agent boolean NOT NULL DEFAULT false;

ALTER TABLE queue_members
    -- Round robin: the member whose turn is oldest goes next.
    ADD COLUMN last_assigned_at timestamptz;

-- Ordered routing rules; channel rules are checked before global ones (channel_id NULL), each by position.
CREATE TABLE routing_rules (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel_id      uuid REFERENCES channels (id),
    position        integer NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    -- [{"type": …, …}]: all must hold (checked by the API, src/routing/rules.rs).
    conditions      jsonb NOT NULL DEFAULT '[]',
    target_type     text NOT NULL CHECK (target_type IN ('queue', 'ai_agent', 'agent')),
    target_queue_id uuid REFERENCES queues (id),
    target_agent_id uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((target_type = 'queue') = (target_queue_id IS NOT NULL)),
    CHECK ((target_type = 'agent') = (target_agent_id IS NOT NULL))
);
CREATE INDEX routing_rules_order_idx ON routing_rules (channel_id, position);

-- What routing decisions read about rules, queues, numbers and schedules, cached by every process and
-- reloaded when this number moves (any change to those tables moves it).
CREATE TABLE routing_config (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO routing_config (version) VALUES (1);

CREATE FUNCTION routing_config_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE routing_config SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER routing_rules_bump AFTER INSERT OR UPDATE OR DELETE ON routing_rules
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();
CREATE TRIGGER queues_bump AFTER INSERT OR UPDATE OR DELETE ON queues
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();
CREATE TRIGGER business_hours_bump AFTER INSERT OR UPDATE OR DELETE ON business_hours
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();
CREATE TRIGGER whatsapp_numbers_bump AFTER INSERT OR UPDATE OR DELETE ON whatsapp_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();
CREATE TRIGGER channels_bump AFTER INSERT OR UPDATE OR DELETE ON channels
    FOR EACH STATEMENT EXECUTE FUNCTION routing_config_bump();

-- The conversation's timeline: every routing and ownership change, who made it and when.
CREATE TABLE conversation_events (
    id              bigserial PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    -- routed, queued, assigned, unassigned, transferred, claimed, overflowed, handed_over, resolved, reopened, …
    kind            text NOT NULL,
    -- 'system' (the router), 'user', 'token' or 'ai_agent'.
    actor_type      text NOT NULL,
    actor_id        uuid,
    actor_label     text NOT NULL DEFAULT '',
    data            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_events_conversation_idx ON conversation_events (conversation_id, id);
