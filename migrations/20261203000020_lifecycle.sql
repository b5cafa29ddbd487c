-- A conversation's life without anyone pushing it: snooze, auto-resolve after silence, the acceptance timeout,
-- and retrying a failed message (src/routing/lifecycle.rs, src/automation/idle.rs, src/outbound/compose.rs).

-- Snoozed: set aside by its agent until `snoozed_until`, or (NULL) until the customer's next message, which
-- also wakes it early. Still unresolved: the customer's messages join it and its agent keeps holding it.
ALTER TABLE conversations DROP CONSTRAINT conversations_status_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_status_check
    CHECK (status IN ('open', 'pending', 'snoozed', 'resolved'));
ALTER TABLE conversations ADD COLUMN snoozed_until timestamptz;
ALTER TABLE conversations ADD CONSTRAINT conversations_snoozed_until_check
    CHECK (status = 'snoozed' OR snoozed_until IS NULL);
CREATE INDEX conversations_snoozed_idx ON conversations (snoozed_until)
    WHERE status = 'snoozed' AND snoozed_until IS NOT NULL;

-- Auto-resolve: a conversation nobody wrote in (customer or business) for this long is resolved, with an
-- optional closing message. The queue's setting applies to conversations in or from the queue, the number's to
-- the others.
ALTER TABLE number_automation
    ADD COLUMN auto_resolve_after_minutes integer CHECK (auto_resolve_after_minutes BETWEEN 1 AND 43200),
    ADD COLUMN auto_resolve_text          text CHECK (length(auto_resolve_text) BETWEEN 1 AND 1600);
ALTER TABLE queue_automation
    ADD COLUMN auto_resolve_after_minutes integer CHECK (auto_resolve_after_minutes BETWEEN 1 AND 43200),
    ADD COLUMN auto_resolve_text          text CHECK (length(auto_resolve_text) BETWEEN 1 AND 1600);
-- The closing message is sent once per period of silence, whichever process resolves.
ALTER TABLE automation_runs DROP CONSTRAINT automation_runs_kind_check;
ALTER TABLE automation_runs ADD CONSTRAINT automation_runs_kind_check
    CHECK (kind IN ('greeting', 'out_of_hours', 'attachments_refused', 'rule', 'waiting_notice', 'csat', 'opt_in',
                    'auto_resolve'));

-- The acceptance timeout: a conversation the queue assigned and its agent has not answered within this many
-- minutes goes back to the queue; after `acceptance_misses_to_away` such misses in a row the agent is set away.
ALTER TABLE queues
    ADD COLUMN acceptance_timeout_minutes integer CHECK (acceptance_timeout_minutes BETWEEN 1 AND 1440),
    ADD COLUMN acceptance_misses_to_away  integer CHECK (acceptance_misses_to_away BETWEEN 1 AND 100);
-- Misses in a row: reset when the agent sends a message or sets their presence.
ALTER TABLE users ADD COLUMN acceptance_misses integer NOT NULL DEFAULT 0;
-- The router's list of assigned conversations per queue, oldest assignment first (no column an inbound message
-- changes, so those updates stay HOT).
CREATE INDEX conversations_assigned_idx ON conversations (queue_id, assigned_at)
    WHERE routing_state = 'assigned' AND status <> 'resolved';

-- A retried message names the failed one it sends again; a failed message is retried at most once (the unique
-- index is what makes two clicks one send).
ALTER TABLE messages ADD COLUMN retry_of uuid REFERENCES messages (id);
CREATE UNIQUE INDEX messages_retry_of_key ON messages (retry_of) WHERE retry_of IS NOT NULL;

-- The customer's message wakes a snoozed conversation in the inbound write itself (src/store/messages.rs); its
-- timeline says so here, at no cost to the messages that wake nothing.
CREATE FUNCTION conversations_woken_by_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_events (conversation_id, kind, actor_type, actor_label, data)
    VALUES (NEW.id, 'unsnoozed', 'system', 'lifecycle',
            jsonb_build_object('reason', 'customer_message', 'until', OLD.snoozed_until));
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_woken_by_customer AFTER UPDATE OF status ON conversations
    FOR EACH ROW WHEN (OLD.status = 'snoozed' AND NEW.status = 'open'
                       AND OLD.last_inbound_at IS DISTINCT FROM NEW.last_inbound_at)
    EXECUTE FUNCTION conversations_woken_by_customer();

-- A blocked contact: their messages are still stored (nothing a customer sends is lost), but their conversation
-- is offered to nobody and no automation or AI agent answers (routing state `blocked`) until they are unblocked.
ALTER TABLE contacts ADD COLUMN blocked_at timestamptz, ADD COLUMN blocked_by text;
ALTER TABLE conversations DROP CONSTRAINT conversations_routing_state_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_routing_state_check
    CHECK (routing_state IN ('unrouted', 'waiting', 'assigned', 'ai', 'unowned', 'notified', 'blocked'));

-- An agent's reply that answers a particular message of the customer's: the thread shows it quoted.
ALTER TABLE messages ADD COLUMN quoted_message_id uuid REFERENCES messages (id);

-- The inbox speaks the agent's language and shows times in their time zone (NULL: the browser's).
ALTER TABLE users
    ADD COLUMN ui_language text CHECK (ui_language IN ('en', 'es', 'pt', 'nl', 'ja')),
    ADD COLUMN time_zone   text CHECK (length(time_zone) BETWEEN 1 AND 64);
