-- The messaging limit's count without reading every customer reached: `messaging_reach` holds one row per
-- customer reached in the last 24 hours, so counting it cost a scan of up to the tier's cap (100,000 rows) for
-- every reservation. Statement triggers keep a count per number and minute of `reached_at`; the count over the
-- window is the sum of the whole minutes inside it plus an exact count of the one minute the window's start
-- cuts (`messaging_used`): at most 1,441 small rows and one minute of reach.
CREATE TABLE messaging_reach_minutes (
    number_id uuid NOT NULL,
    minute    timestamptz NOT NULL,
    reached   integer NOT NULL,
    PRIMARY KEY (number_id, minute)
);

CREATE FUNCTION reach_minute(at timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('1 minute', at, timestamptz '2000-01-01 00:00:00+00')
$$;

CREATE FUNCTION messaging_reach_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO messaging_reach_minutes (number_id, minute, reached)
    SELECT number_id, reach_minute(reached_at), count(*) FROM added GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (number_id, minute) DO UPDATE SET reached = messaging_reach_minutes.reached + EXCLUDED.reached;
    RETURN NULL;
END $$;

CREATE FUNCTION messaging_reach_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Locked in one order (as the inserts above), so that the sweeper and a reservation never deadlock.
    PERFORM 1 FROM messaging_reach_minutes m
    WHERE (m.number_id, m.minute) IN (SELECT number_id, reach_minute(reached_at) FROM removed)
    ORDER BY m.number_id, m.minute FOR UPDATE;
    UPDATE messaging_reach_minutes m SET reached = m.reached - r.n
    FROM (SELECT number_id, reach_minute(reached_at) AS minute, count(*) AS n FROM removed GROUP BY 1, 2) r
    WHERE m.number_id = r.number_id AND m.minute = r.minute;
    RETURN NULL;
END $$;

CREATE TRIGGER messaging_reach_inserted AFTER INSERT ON messaging_reach
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION messaging_reach_added();
CREATE TRIGGER messaging_reach_updated_out AFTER UPDATE ON messaging_reach
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messaging_reach_removed();
CREATE TRIGGER messaging_reach_updated_in AFTER UPDATE ON messaging_reach
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION messaging_reach_added();
CREATE TRIGGER messaging_reach_deleted AFTER DELETE ON messaging_reach
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION messaging_reach_removed();

INSERT INTO messaging_reach_minutes (number_id, minute, reached)
SELECT number_id, reach_minute(reached_at), count(*) FROM messaging_reach GROUP BY 1, 2;

-- Customers the number reached with business-initiated messages in the last 24 hours.
CREATE FUNCTION messaging_used(number uuid) RETURNS bigint LANGUAGE sql STABLE AS $$
    WITH edge AS (SELECT reach_minute(now() - interval '24 hours') + interval '1 minute' AS at)
    SELECT (SELECT count(*) FROM messaging_reach r, edge
            WHERE r.number_id = number AND r.reached_at > now() - interval '24 hours' AND r.reached_at < edge.at)
         + (SELECT COALESCE(sum(m.reached), 0) FROM messaging_reach_minutes m, edge
            WHERE m.number_id = number AND m.minute >= edge.at)
$$;
