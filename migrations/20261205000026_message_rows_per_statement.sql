-- A new message's live event (the inboxes' feed) and its `message.received` event (the event log, webhooks) were
-- written by two row triggers: per message, two trigger calls, each looking its conversation up and running its
-- own INSERT. Inbound messages arrive in batches of up to 64 per statement (src/ingest/writer.rs), so they are now
-- written once per statement from the statement's new rows, each conversation looked up by its key (a lateral
-- subquery that is not flattened: the new rows have no statistics, and a join the planner is free to choose
-- became a hash join over every conversation in the volumes' trigger, see 20261204000025). The rows written are
-- the same, in the same order (the order the messages were inserted). A status change (outbound messages) still
-- goes through the row triggers, which compare the old status with the new.
DROP TRIGGER messages_events ON messages;
DROP TRIGGER messages_live ON messages;
CREATE TRIGGER messages_events AFTER UPDATE OF status ON messages
    FOR EACH ROW EXECUTE FUNCTION event_message();
CREATE TRIGGER messages_live AFTER UPDATE OF status ON messages
    FOR EACH ROW EXECUTE FUNCTION live_item('message');

CREATE FUNCTION messages_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_events (payload)
    SELECT json_build_object('kind', 'message', 'c', m.conversation_id, 'id', m.id,
                             'n', c.number_id, 'q', c.queue_id, 'a', c.assignee_id)::text
    FROM new_rows m
    CROSS JOIN LATERAL (SELECT number_id, queue_id, assignee_id FROM conversations WHERE id = m.conversation_id
                        OFFSET 0) c;
    INSERT INTO events (type, conversation_id, number_id, data)
    SELECT 'message.received', m.conversation_id, c.number_id,
           jsonb_strip_nulls(jsonb_build_object(
               'message_id', m.id, 'conversation_id', m.conversation_id, 'contact_id', c.contact_id,
               'number_id', c.number_id, 'direction', m.direction, 'status', m.status, 'body', m.body,
               'message_type', m.message_type, 'num_media', m.num_media, 'twilio_sid', m.twilio_sid,
               'error_code', m.error_code, 'error_message', m.error_message))
    FROM new_rows m
    CROSS JOIN LATERAL (SELECT number_id, contact_id FROM conversations WHERE id = m.conversation_id OFFSET 0) c
    WHERE m.direction = 'inbound';
    RETURN NULL;
END $$;
CREATE TRIGGER messages_inserted AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_inserted();
