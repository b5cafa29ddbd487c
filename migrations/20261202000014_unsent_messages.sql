-- Sends are ordered per conversation: before a message goes to Twilio the sender asks whether an earlier message
-- of its conversation is still unsent. Only unsent messages are in this index (a message leaves it when Twilio's
-- SID is recorded or it fails), so the question is one probe however long the conversation is.
CREATE INDEX messages_unsent_idx ON messages (conversation_id, created_at, id)
    WHERE direction = 'outbound' AND status = 'queued' AND twilio_sid IS NULL;
