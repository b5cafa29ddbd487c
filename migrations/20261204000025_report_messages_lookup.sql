-- The volumes' trigger on messages joined the statement's new rows to `conversations`. The new rows (a transition
-- table) have no statistics, and the planner made it a hash join over a sequential scan of every conversation:
-- 3–16 ms per inbound batch under load, the largest single cost of the inbound path (BENCHMARKS.md, issue 21).
-- The rows are now grouped first, and each group's conversation is looked up by its key (a lateral subquery that
-- is not flattened, so the lookup is always one index probe per conversation).
CREATE OR REPLACE FUNCTION report_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_message_deltas (bucket, number_id, queue_id, agent_id, author, n)
    SELECT d.bucket, c.number_id, c.queue_id, d.agent_id, d.author, sum(d.n)
    FROM (SELECT date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket, conversation_id,
                 author_user_id AS agent_id, report_author(direction, author_user_id, automation) AS author,
                 count(*) AS n
          FROM new_rows GROUP BY 1, 2, 3, 4) d
    CROSS JOIN LATERAL (SELECT number_id, queue_id FROM conversations WHERE id = d.conversation_id OFFSET 0) c
    GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO report_dirty (conversation_id)
    SELECT DISTINCT conversation_id FROM new_rows WHERE author_user_id IS NOT NULL;
    RETURN NULL;
END $$;
