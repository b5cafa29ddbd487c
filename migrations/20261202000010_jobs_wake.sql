-- Workers no longer LISTEN: the process that queues a job wakes its own worker after the commit, and every
-- worker polls. A NOTIFY in every transaction that queues a job (each send, each inbound message with media)
-- serialised those commits behind PostgreSQL's notify lock, held through the WAL flush.
DROP TRIGGER jobs_notify ON jobs;
DROP FUNCTION jobs_notify();
