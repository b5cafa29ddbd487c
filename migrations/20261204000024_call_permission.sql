-- Business-initiated WhatsApp calls (issue 22): the call-permission requests the business sent, the customer's
-- answers, and the calls the business places (domain::call_permission decides from all three).

-- A call-permission request: a template with the VOICE_CALL_REQUEST element sent to the customer on the number.
CREATE TABLE call_permission_requests (
    id              uuid PRIMARY KEY,
    number_id       uuid NOT NULL REFERENCES whatsapp_numbers (id),
    contact_id      uuid NOT NULL REFERENCES contacts (id),
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    -- The template message that carries it.
    message_id      uuid NOT NULL,
    requested_by    uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_permission_requests_pair_idx ON call_permission_requests (number_id, contact_id, created_at);

-- The customer's yes or no (their latest counts); one per message they answered with.
CREATE TABLE call_permission_answers (
    id              uuid PRIMARY KEY,
    number_id       uuid NOT NULL REFERENCES whatsapp_numbers (id),
    contact_id      uuid NOT NULL REFERENCES contacts (id),
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    message_id      uuid NOT NULL UNIQUE,
    granted         boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_permission_answers_pair_idx ON call_permission_answers (number_id, contact_id, created_at);

-- A call the business places is `dialing` until the customer answers (then `connected`) or the dial ends; it
-- has no CallSid until Twilio has taken the request.
ALTER TABLE calls DROP CONSTRAINT calls_state_check;
ALTER TABLE calls ADD CONSTRAINT calls_state_check CHECK (state IN ('waiting', 'dialing', 'connected', 'ended'));
ALTER TABLE calls ALTER COLUMN call_sid DROP NOT NULL;
ALTER TABLE calls ADD CONSTRAINT calls_sid_check CHECK (call_sid IS NOT NULL OR direction = 'outbound');
-- The calls of a customer on a number, for the permission's history.
CREATE INDEX calls_pair_idx ON calls (number_id, contact_id, created_at);

-- The customer's answer is recorded once per message, whichever process's automation engine reads it.
ALTER TABLE automation_runs DROP CONSTRAINT automation_runs_kind_check;
ALTER TABLE automation_runs ADD CONSTRAINT automation_runs_kind_check
    CHECK (kind IN ('greeting', 'out_of_hours', 'attachments_refused', 'rule', 'waiting_notice', 'csat', 'opt_in',
                    'auto_resolve', 'call_permission'));

-- An agent put the customer on hold: back in the call's Twilio queue, hearing hold music, until the agent's
-- browser takes them again (src/calling/during.rs).
ALTER TABLE calls ADD COLUMN on_hold boolean NOT NULL DEFAULT false;

-- An agent who accepted a call (or resumed it from hold) must join it from the browser by this time; otherwise
-- the call goes back to waiting and rings the next agent (routing.call_join_timeout_secs).
ALTER TABLE calls ADD COLUMN join_by timestamptz;
CREATE INDEX calls_join_by_idx ON calls (join_by) WHERE join_by IS NOT NULL;

-- An agent who wants no browser audio is reached on this phone number for calls instead (E.164).
ALTER TABLE users ADD COLUMN call_phone text CHECK (call_phone ~ '^\+[1-9][0-9]{6,14}$');
-- Calls being placed, for the sweep that ends one whose request to Twilio never came back.
CREATE INDEX calls_dialing_idx ON calls (created_at) WHERE state = 'dialing';
