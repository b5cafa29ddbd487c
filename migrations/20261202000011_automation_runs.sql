-- A run's message was written by a second statement after every automated send and never read: the message
-- itself says which automation wrote it (`messages.automation`), and a survey keeps its own message.
ALTER TABLE automation_runs DROP COLUMN message_id;
