-- Agentless notifications (seed 003) with opt-in and WhatsApp's messaging limits (seed 004).

-- Opt-in and opt-out, per customer and number, as a history: the latest row is the current state. Nothing is
-- updated or deleted, so the evidence of every change stays.
CREATE TABLE opt_ins (
    id          uuid PRIMARY KEY,
    contact_id  uuid NOT NULL REFERENCES contacts (id),
    number_id   uuid NOT NULL REFERENCES whatsapp_numbers (id),
    state       text NOT NULL CHECK (state IN ('opted_in', 'opted_out')),
    -- api: recorded through the API; import: a CSV import; keyword: the customer wrote STOP / START (or an
    -- equivalent); inbound: the customer asked in a conversation (recorded by an agent or system); twilio:
    -- Twilio answered 21610 (the customer unsubscribed).
    source      text NOT NULL CHECK (source IN ('api', 'import', 'keyword', 'inbound', 'twilio')),
    evidence    text CHECK (length(evidence) <= 2000),
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opt_ins_current_idx ON opt_ins (contact_id, number_id, recorded_at DESC, id DESC);

-- Messaging limits: per number, the unique customers reached by business-initiated messages in a rolling
-- 24 hours may not pass the tier's cap. `messaging_reach` keeps, per number and customer, the last time a
-- business-initiated message went to them: a customer counts while that time is within 24 hours.
ALTER TABLE whatsapp_numbers ADD COLUMN messaging_tier text NOT NULL DEFAULT 'tier_250'
    CHECK (messaging_tier IN ('tier_250', 'tier_1k', 'tier_10k', 'tier_100k', 'unlimited'));
-- No foreign key to contacts: the reservation commits before the transaction that may create the contact.
CREATE TABLE messaging_reach (
    number_id  uuid NOT NULL REFERENCES whatsapp_numbers (id),
    contact_id uuid NOT NULL,
    reached_at timestamptz NOT NULL,
    PRIMARY KEY (number_id, contact_id)
);
CREATE INDEX messaging_reach_window_idx ON messaging_reach (number_id, reached_at);

-- A conversation a notification started waits for the customer's reply before it is routed ('notified').
ALTER TABLE conversations DROP CONSTRAINT conversations_routing_state_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_routing_state_check
    CHECK (routing_state IN ('unrouted', 'waiting', 'assigned', 'ai', 'unowned', 'notified'));
-- Who opened it: the customer (the default), someone at the business (an agent or token), or a notification.
ALTER TABLE conversations ADD COLUMN started_by text NOT NULL DEFAULT 'customer'
    CHECK (started_by IN ('customer', 'business', 'notification'));
UPDATE conversations c SET started_by = 'business'
WHERE (SELECT m.direction FROM messages m WHERE m.conversation_id = c.id ORDER BY m.created_at, m.id LIMIT 1)
      = 'outbound';

-- Batches of notifications, sent by a durable job (`notify.batch`), each recipient's result kept.
CREATE TABLE notification_batches (
    id           uuid PRIMARY KEY,
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
    -- The fields every recipient shares: number, template, topic, tags, queue.
    request      jsonb NOT NULL,
    requested_by text NOT NULL,
    total        integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE TABLE notification_batch_recipients (
    batch_id        uuid NOT NULL REFERENCES notification_batches (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    "to"            text NOT NULL,
    variables       jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'refused')),
    message_id      uuid,
    conversation_id uuid,
    -- A refusal as the API answers it: {"code", "message", "details"}.
    error           jsonb,
    PRIMARY KEY (batch_id, position)
);

-- A STOP / START keyword is acted on once (recorded and confirmed), as every automation step is.
ALTER TABLE automation_runs DROP CONSTRAINT automation_runs_kind_check;
ALTER TABLE automation_runs ADD CONSTRAINT automation_runs_kind_check
    CHECK (kind IN ('greeting', 'out_of_hours', 'attachments_refused', 'rule', 'waiting_notice', 'csat', 'opt_in'));
