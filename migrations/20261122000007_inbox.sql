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

-- The live feed: every change an inbox shows is announced on the channel 'switchboard_live', whoever made it
-- (an API handler, the ingest writer, the outbound worker, a status callback, the router, another process).
-- The payload names the conversation and who may see it: its number, queue and assignee, before and after.
CREATE FUNCTION live_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_live', json_build_object(
        'kind', 'conversation', 'c', NEW.id, 'n', NEW.number_id, 'q', NEW.queue_id, 'a', NEW.assignee_id,
        'pq', CASE WHEN TG_OP = 'UPDATE' THEN OLD.queue_id END,
        'pa', CASE WHEN TG_OP = 'UPDATE' THEN OLD.assignee_id END)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_live AFTER INSERT OR UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION live_conversation();

-- Messages (new ones, and status changes) and notes: announced with their conversation's audience.
CREATE FUNCTION live_item() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    conv record;
BEGIN
    SELECT number_id, queue_id, assignee_id INTO conv FROM conversations WHERE id = NEW.conversation_id;
    PERFORM pg_notify('switchboard_live', json_build_object(
        'kind', TG_ARGV[0], 'c', NEW.conversation_id, 'id', NEW.id,
        'n', conv.number_id, 'q', conv.queue_id, 'a', conv.assignee_id)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER messages_live AFTER INSERT OR UPDATE OF status ON messages
    FOR EACH ROW EXECUTE FUNCTION live_item('message');
CREATE TRIGGER notes_live AFTER INSERT ON notes
    FOR EACH ROW EXECUTE FUNCTION live_item('note');
