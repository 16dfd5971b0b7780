-- Personal access tokens for the MCP server's HTTP transport (`viraltracker token create`).
-- A token stands for one person: the server maps it to that user, and every tool call then runs
-- as them under RLS, exactly as in chat. Only the sha256 of the token is kept (tokens are 32 random
-- bytes, so a plain hash is enough); the token itself is shown once, when it is created.
create table api_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  name text not null,
  token_hash text not null unique,
  token_prefix text not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_tokens_user_idx on api_tokens (user_id, created_at desc);

-- A token is a person's own, not an organization's: people may see their own tokens (never the
-- hashes); the server looks tokens up and the operator creates and revokes them (service/owner).
alter table api_tokens enable row level security;
alter table api_tokens force row level security;
create policy api_tokens_self_read on api_tokens for select to authenticated
  using (user_id = (select auth.uid()));
revoke all on table api_tokens from anon, authenticated;
grant select (id, user_id, name, token_prefix, created_at, last_used_at, revoked_at)
  on table api_tokens to authenticated;
grant select, insert, update, delete on table api_tokens to service_role;
