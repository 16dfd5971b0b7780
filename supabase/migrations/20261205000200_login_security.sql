-- Sign-in throttling and server-side logout.
--
-- login_throttle: failed sign-ins counted per account (normalised email, known or not) and per
-- client address, kept in Postgres so every app process sees the same counts. Only the server
-- (owner) reads and writes it: like user_credentials, no role of a signed-in person may.
create table login_throttle (
  key text primary key,
  failures integer not null default 0,
  blocked_until timestamptz,
  updated_at timestamptz not null default now()
);
create index login_throttle_updated_idx on login_throttle (updated_at);

alter table login_throttle enable row level security;
alter table login_throttle force row level security;
revoke all on table login_throttle from anon, authenticated;

-- session_version: put in each sign-in's token and bumped at logout, so a token issued before the
-- logout is refused afterwards. A table of our own (Supabase's auth.users is not ours to alter).
create table user_sessions (
  user_id uuid primary key references auth.users (id) on delete cascade,
  session_version integer not null default 0,
  updated_at timestamptz not null default now()
);

alter table user_sessions enable row level security;
alter table user_sessions force row level security;
revoke all on table user_sessions from anon, authenticated;
