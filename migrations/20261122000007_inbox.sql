-- The agent inbox: private notes, tags on conversations, what each agent has read, the topic of a conversation
-- an agent starts, and the live feed that open inboxes follow.

ALTER TABLE conversations ADD COLUMN topic text CHECK (length(topic) <= 200);

-- Notes agents leave on a conversation for each other; never sent to the customer.
CREATE TABLE notes (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    author_user_id  uuid REFERENCES users (id),
    author_label    text NOT NULL,
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_conversation_idx ON notes (conversation_id, created_at);

CREATE TABLE conversation_tags (
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    tag_id          uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, tag_id)
);
CREATE INDEX conversation_tags_tag_idx ON conversation_tags (tag_id);

-- Up to when each agent has read each conversation: a customer message after it is unread.
CREATE TABLE conversation_reads (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    read_at         timestamptz NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);

-- The live feed: every change an inbox shows is appended to `live_events` by the triggers below, in the writer's
-- own transaction, whoever the writer is (an API handler, the ingest writer, the outbound worker, a status
-- callback, the router, another process). Each server process reads the rows of finished transactions in
-- transaction-id order (below the oldest transaction still running), so a row committed late is never skipped.
-- The table is unlogged (no WAL: it adds little to a commit; a crash empties it, and inboxes reload after a
-- restart anyway); rows older than a few minutes are deleted by the readers.
-- NOTIFY is not used: PostgreSQL serialises the commits of notifying transactions (a global lock held through the
-- WAL flush), which cost the inbound path about a fifth of its throughput (BENCHMARKS.md).
-- The payload names the conversation and who may see it: its number, queue and assignee, before and after.
CREATE UNLOGGED TABLE live_events (
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    payload    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_events_xid_idx ON live_events (xid);
CREATE INDEX live_events_created_idx ON live_events (created_at);

CREATE FUNCTION live_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_events (payload) VALUES (json_build_object(
        'kind', 'conversation', 'c', NEW.id, 'n', NEW.number_id, 'q', NEW.queue_id, 'a', NEW.assignee_id,
        'pq', CASE WHEN TG_OP = 'UPDATE' THEN OLD.queue_id END,
        'pa', CASE WHEN TG_OP = 'UPDATE' THEN OLD.assignee_id END)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_live_insert AFTER INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION live_conversation();
-- Not for the touch every inbound message gives its conversation (the message's own event says it), unless the
-- message also changed who owns it or its status.
CREATE TRIGGER conversations_live_update AFTER UPDATE ON conversations
    FOR EACH ROW WHEN (OLD.last_inbound_at IS NOT DISTINCT FROM NEW.last_inbound_at
        OR OLD.status IS DISTINCT FROM NEW.status OR OLD.routing_state IS DISTINCT FROM NEW.routing_state
        OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id OR OLD.queue_id IS DISTINCT FROM NEW.queue_id)
    EXECUTE FUNCTION live_conversation();

-- Messages (new ones, and status changes) and notes: announced with their conversation's audience.
CREATE FUNCTION live_item() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    conv record;
BEGIN
    SELECT number_id, queue_id, assignee_id INTO conv FROM conversations WHERE id = NEW.conversation_id;
    INSERT INTO live_events (payload) VALUES (json_build_object(
        'kind', TG_ARGV[0], 'c', NEW.conversation_id, 'id', NEW.id,
        'n', conv.number_id, 'q', conv.queue_id, 'a', conv.assignee_id)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER messages_live AFTER INSERT OR UPDATE OF status ON messages
    FOR EACH ROW EXECUTE FUNCTION live_item('message');
CREATE TRIGGER notes_live AFTER INSERT ON notes
    FOR EACH ROW EXECUTE FUNCTION live_item('note');
