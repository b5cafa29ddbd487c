-- A new conversation's facts were built by the reports job, as any changed conversation's are: its opening events
-- (`routed`, then `unowned`) listed it in `report_dirty`, and the job read its timeline back to derive a single
-- fact, `created` (~40 µs of PostgreSQL per conversation; BENCHMARKS.md, issue 21). A conversation's first facts
-- are known when it is inserted: with no step yet, `reports::facts::derive` gives exactly `created`, at its
-- creation, with no queue and no agent. So the insert writes that fact, and the two opening events, which no fact
-- depends on (`reports::job::step_of` ignores them; a test there says so), list no rebuild. Every later event a
-- fact depends on lists the conversation as before, and its rebuild replaces the fact.
CREATE FUNCTION report_conversations_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_facts (conversation_id, metric, at, number_id, channel_id)
    SELECT id, 'created', created_at, number_id, channel_id FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_report_insert AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_conversations_created();

CREATE FUNCTION report_timeline_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (conversation_id)
    SELECT DISTINCT conversation_id FROM new_rows WHERE kind NOT IN ('routed', 'unowned');
    RETURN NULL;
END $$;
DROP TRIGGER conversation_events_report ON conversation_events;
CREATE TRIGGER conversation_events_report AFTER INSERT ON conversation_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_timeline_dirty();
