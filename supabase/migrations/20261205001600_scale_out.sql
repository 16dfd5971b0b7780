-- Several app processes on one database behave as one.
--
-- slack_events_seen: the ids of Slack events some app process has taken, so that Slack's retry of
-- an event (same event_id, X-Slack-Retry-Num) reaching another process does not run it again.
-- Rows older than a day are pruned as new ones arrive (Slack retries within minutes).
create table slack_events_seen (
  event_id text primary key,
  seen_at timestamptz not null default now()
);
create index slack_events_seen_at_idx on slack_events_seen (seen_at);

-- chat_element_files: an answer's tables and charts (Chainlit elements) kept in the database when
-- the app runs on DATABASE_URL, so every app process reads what another stored (agent/chat_storage.py).
create table chat_element_files (
  object_key text primary key,
  mime text not null,
  content bytea not null,
  created_at timestamptz not null default now()
);

-- Service side only (like chat history): no policy for anon/authenticated, and no grants.
alter table slack_events_seen enable row level security;
revoke all on table slack_events_seen from anon, authenticated;
alter table chat_element_files enable row level security;
revoke all on table chat_element_files from anon, authenticated;
