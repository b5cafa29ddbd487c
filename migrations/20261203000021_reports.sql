-- Reports (src/reports/): what they count is kept as it happens, so that no report reads the message table.
--
-- * report_facts: per conversation, one row per metric occurrence (a first response, a resolution, a wait in a
--   queue, a CSAT answer, …), at the moment of its end event. They are derived from the conversation's timeline
--   by src/reports/facts.rs and rebuilt whole whenever the timeline changes, so late events (a reopen, a transfer
--   recorded after the hour closed) correct them.
-- * report_dirty: the conversations whose facts must be rebuilt; triggers append them (no key: a writer never
--   waits for another, whatever conversations each names and in whatever order), the reports job empties it.
-- * report_message_counts: messages per 15 minutes (every time zone's day and hour boundaries fall on a 15-minute
--   boundary), number, queue, agent and author. A statement trigger appends one row per group to
--   report_message_deltas (append-only: no row two writers contend for); the reports job folds them in.
-- * presence_log: every change of an agent's presence, for time online and away.

CREATE TABLE report_facts (
    id              bigserial PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    metric          text NOT NULL CHECK (metric IN ('created', 'resolved', 'reopened', 'first_response', 'unanswered',
                                                    'resolution', 'queue_wait', 'handle', 'ai_resolved', 'handover',
                                                    'csat_sent', 'csat_rated')),
    -- When the metric's end event happened: the moment (and so the period) it counts in.
    at              timestamptz NOT NULL,
    number_id       uuid NOT NULL,
    channel_id      uuid NOT NULL,
    queue_id        uuid,
    agent_id        uuid,
    -- A duration's seconds, and the same counting only the open hours of the queue's (else the number's)
    -- business hours; both equal when there is no schedule.
    secs            bigint,
    business_secs   bigint,
    -- A CSAT rating (1–5).
    value           smallint,
    -- A hand-over's reason.
    reason          text,
    -- Whether the queue's SLA target for this metric was met (NULL: the queue has no such target).
    sla_met         boolean
);
CREATE INDEX report_facts_metric_at_idx ON report_facts (metric, at);
CREATE INDEX report_facts_conversation_idx ON report_facts (conversation_id);

CREATE TABLE report_dirty (
    conversation_id uuid NOT NULL
);
-- Not unique: a claim removes a conversation's other entries by it.
CREATE INDEX report_dirty_conversation_idx ON report_dirty (conversation_id);

CREATE FUNCTION report_events_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (conversation_id) SELECT DISTINCT conversation_id FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER conversation_events_report AFTER INSERT ON conversation_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_events_dirty();
CREATE TRIGGER csat_surveys_report_insert AFTER INSERT ON csat_surveys
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_events_dirty();
CREATE TRIGGER csat_surveys_report_update AFTER UPDATE ON csat_surveys
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_events_dirty();

-- Messages: a person's message can be a first response (the customers' own messages only start what a person's
-- message ends, so they need no rebuild); and every message counts in the volumes.
CREATE TABLE report_message_deltas (
    bucket    timestamptz NOT NULL,
    number_id uuid NOT NULL,
    queue_id  uuid,
    agent_id  uuid,
    -- customer (inbound), agent, ai, automation, notification, api
    author    text NOT NULL,
    n         integer NOT NULL
);
CREATE TABLE report_message_counts (
    bucket    timestamptz NOT NULL,
    number_id uuid NOT NULL,
    queue_id  uuid,
    agent_id  uuid,
    author    text NOT NULL,
    n         bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (bucket, number_id, queue_id, agent_id, author)
);
CREATE INDEX report_message_counts_bucket_idx ON report_message_counts (bucket);

-- Who wrote a message, as the volumes count it: the customer, a person (agent), an AI agent, a notification, another
-- automation, or a program through the API.
CREATE FUNCTION report_author(direction text, author_user_id uuid, automation jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN direction = 'inbound' THEN 'customer'
                WHEN author_user_id IS NOT NULL THEN 'agent'
                WHEN automation->>'kind' = 'ai_agent' THEN 'ai'
                WHEN automation->>'kind' = 'notification' THEN 'notification'
                WHEN automation IS NOT NULL THEN 'automation'
                ELSE 'api' END
$$;

CREATE FUNCTION report_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_message_deltas (bucket, number_id, queue_id, agent_id, author, n)
    SELECT date_bin('15 minutes', m.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), c.number_id, c.queue_id,
           m.author_user_id,
           report_author(m.direction, m.author_user_id, m.automation),
           count(*)
    FROM new_rows m JOIN conversations c ON c.id = m.conversation_id
    GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO report_dirty (conversation_id)
    SELECT DISTINCT conversation_id FROM new_rows WHERE author_user_id IS NOT NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_report AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_messages();

CREATE TABLE presence_log (
    id       bigserial PRIMARY KEY,
    user_id  uuid NOT NULL REFERENCES users (id),
    presence text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX presence_log_user_idx ON presence_log (user_id, at);
CREATE FUNCTION presence_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_log (user_id, presence) VALUES (NEW.id, NEW.presence);
    RETURN NULL;
END $$;
CREATE TRIGGER users_presence_log AFTER UPDATE OF presence ON users
    FOR EACH ROW WHEN (OLD.presence IS DISTINCT FROM NEW.presence) EXECUTE FUNCTION presence_logged();

-- A queue's service-level targets: a first response within this many minutes, a resolution within this many
-- hours (counted in the queue's business hours when it has a schedule).
ALTER TABLE queues
    ADD COLUMN sla_first_response_minutes integer CHECK (sla_first_response_minutes BETWEEN 1 AND 10080),
    ADD COLUMN sla_resolution_hours       integer CHECK (sla_resolution_hours BETWEEN 1 AND 8760);

-- What exists already: its conversations get their facts on the first run of the reports job, its messages are
-- counted here.
INSERT INTO report_dirty (conversation_id) SELECT id FROM conversations;
INSERT INTO report_message_counts (bucket, number_id, queue_id, agent_id, author, n)
SELECT date_bin('15 minutes', m.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'), c.number_id, c.queue_id,
       m.author_user_id,
       report_author(m.direction, m.author_user_id, m.automation),
       count(*)
FROM messages m JOIN conversations c ON c.id = m.conversation_id
GROUP BY 1, 2, 3, 4, 5;
