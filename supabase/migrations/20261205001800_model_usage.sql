-- What each chat turn cost in model tokens (agent/runner.py records one row per turn that reached a
-- model): uncached input, cache write, cache read and output tokens, the model and the thread.
-- A row is its person's (written as them, read by them); their organization sees everyone's through
-- organization_model_usage(), as members see each other only through functions (20261205000600).
create table model_usage (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  thread_id text,                        -- the chat or Slack thread; null from the CLI
  model text not null,
  requests integer not null check (requests >= 0),
  uncached_input_tokens bigint not null check (uncached_input_tokens >= 0),
  cache_write_tokens bigint not null check (cache_write_tokens >= 0),
  cache_read_tokens bigint not null check (cache_read_tokens >= 0),
  output_tokens bigint not null check (output_tokens >= 0),
  created_at timestamptz not null default now()
);
create index model_usage_user_idx on model_usage (user_id, created_at);
create index model_usage_thread_idx on model_usage (thread_id) where thread_id is not null;

alter table model_usage enable row level security;
alter table model_usage force row level security;
create policy model_usage_self_read on model_usage for select to authenticated
  using (user_id = (select auth.uid()));
create policy model_usage_self_insert on model_usage for insert to authenticated
  with check (user_id = (select auth.uid()));
revoke all on table model_usage from anon, authenticated;
grant select, insert on table model_usage to authenticated;
grant select, insert, update, delete on table model_usage to service_role;

-- The usage of every member of the caller's organizations since a time, by person and model.
create function public.organization_model_usage(since timestamptz)
returns table (
  organization text, email text, model text, turns bigint, requests bigint,
  uncached_input_tokens bigint, cache_write_tokens bigint, cache_read_tokens bigint, output_tokens bigint
)
language sql stable security definer set search_path = '' as $$
  select o.name, u.email::text, g.model, count(*), sum(g.requests)::bigint,
         sum(g.uncached_input_tokens)::bigint, sum(g.cache_write_tokens)::bigint,
         sum(g.cache_read_tokens)::bigint, sum(g.output_tokens)::bigint
  from public.user_organizations m
  join public.organizations o on o.id = m.organization_id
  join auth.users u on u.id = m.user_id
  join public.model_usage g on g.user_id = m.user_id and g.created_at >= since
  where m.organization_id in (select auth.user_organization_ids())
  group by o.name, u.email, g.model
  order by o.name, u.email, g.model
$$;
revoke all on function public.organization_model_usage(timestamptz) from public, anon;
grant execute on function public.organization_model_usage(timestamptz) to authenticated, service_role;
