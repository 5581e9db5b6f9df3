-- dwsbox store, version 12: event subscriptions (D26, issue 17). `events.seq` numbers the
-- events in the order their transactions commit: a trigger takes the next number from the one
-- row of `event_sequence` inside the inserting statement's transaction, whose row lock (SQLite:
-- its single writer) holds any other recording until that transaction ends, so a later number
-- never becomes visible before an earlier one, and a subscription's cursor over the numbers can
-- skip nothing. (A recording refused for its taken source key leaves a gap; gaps cost nothing.) One row
-- per subscription: its filters, its HTTP(S) endpoint, its signing secret (sealed under the
-- master key), its cursor (`cursor_seq`: every event up to it is delivered or not for it), the
-- delivery state (attempts at the event after the cursor, the next attempt, the last error)
-- and the lease of the one service process that delivers for it.
ALTER TABLE events ADD COLUMN seq BIGINT;
UPDATE events SET seq = o.n FROM (SELECT id, row_number() OVER (ORDER BY occurred_at, id) AS n FROM events) o WHERE events.id = o.id;
CREATE INDEX events_project_seq ON events(project_id, seq);
CREATE TABLE event_sequence (
  id INTEGER PRIMARY KEY,
  last_seq BIGINT NOT NULL
);
INSERT INTO event_sequence (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
CREATE TRIGGER events_number AFTER INSERT ON events
BEGIN
  UPDATE event_sequence SET last_seq = last_seq + 1 WHERE id = 1;
  UPDATE events SET seq = (SELECT last_seq FROM event_sequence WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TABLE event_subscriptions (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  source_type TEXT NOT NULL,
  source_id TEXT NOT NULL,
  category TEXT NOT NULL,
  severity TEXT NOT NULL,
  tag TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  endpoint TEXT NOT NULL,
  target_name TEXT NOT NULL,
  target_type TEXT NOT NULL,
  time_zone TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  cursor_seq BIGINT NOT NULL,
  delivered_event_id TEXT,
  delivered_at BIGINT,
  failed_attempts INTEGER NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  last_error TEXT,
  last_error_at BIGINT,
  lease_owner TEXT,
  lease_until BIGINT
);
CREATE UNIQUE INDEX event_subscriptions_name ON event_subscriptions(project_id, name);
