-- A message's file can be erased (a customer's right to erasure, a file sent by mistake): the record of the
-- attachment stays, its bytes go from the file store.
ALTER TABLE attachments DROP CONSTRAINT attachments_download_state_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_download_state_check
    CHECK (download_state IN ('pending', 'downloaded', 'failed', 'refused', 'erased'));
ALTER TABLE attachments ADD COLUMN erased_at timestamptz;
