-- Login throttling per account *and* address with growing delays needs the time of the last attempt.
ALTER TABLE login_failures ADD COLUMN last_at timestamptz NOT NULL DEFAULT now();

-- A status callback can arrive before the sender has recorded the message's SID (Twilio answers the send, then
-- calls back, while the SID is still being committed). It is kept here and applied when the SID is recorded.
CREATE TABLE early_status_callbacks (
    account_id    uuid NOT NULL REFERENCES twilio_accounts (id) ON DELETE CASCADE,
    twilio_sid    text NOT NULL,
    status        text NOT NULL,
    error_code    integer,
    error_message text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, twilio_sid, status)
);
CREATE INDEX early_status_callbacks_received_idx ON early_status_callbacks (received_at);
