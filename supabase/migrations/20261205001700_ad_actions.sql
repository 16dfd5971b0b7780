-- Acting on ads from chat and Slack (services/meta/actions.py): an organization's choice to allow
-- writes to Meta, and the audit of every write (who, when, which object, before -> after, Meta's answer).

-- No row: writes are off. 'admins': its admins may pause, resume and re-budget; 'members': everyone.
create table organization_ad_writes (
  organization_id uuid primary key references organizations (id) on delete cascade,
  allowed text not null check (allowed in ('admins', 'members')),
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now()
);
alter table organization_ad_writes enable row level security;
alter table organization_ad_writes force row level security;
create policy organization_ad_writes_tenant on organization_ad_writes for select to authenticated
  using (organization_id in (select auth.user_organization_ids()));
create policy organization_ad_writes_admin on organization_ad_writes for all to authenticated
  using (organization_id in (select organization_id from public.user_organizations
                             where user_id = (select auth.uid()) and role = 'admin'))
  with check (organization_id in (select organization_id from public.user_organizations
                                  where user_id = (select auth.uid()) and role = 'admin'));
grant select, insert, update, delete on organization_ad_writes to authenticated, service_role;

-- One row per object a confirmed action tried to change. Rows are never edited or deleted by a
-- person: an undo is a new row naming the one it undoes.
create table ad_actions (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null,
  brand_id uuid not null,
  batch_id uuid not null,
  user_id uuid references auth.users (id) on delete set null,
  email text not null,
  created_at timestamptz not null default now(),
  object_type text not null check (object_type in ('ad', 'adset', 'campaign')),
  object_id text not null check (object_id ~ '^[0-9]{1,30}$'),
  object_name text,
  account_id text not null,
  field text not null check (field in ('status', 'daily_budget', 'lifetime_budget')),
  before text,
  after text not null,
  outcome text not null check (outcome in ('changed', 'refused', 'unknown')),
  meta_answer text not null,
  undoes uuid references ad_actions (id) on delete set null,
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index ad_actions_brand_idx on ad_actions (brand_id, created_at desc);
create index ad_actions_organization_idx on ad_actions (organization_id);
create index ad_actions_undoes_idx on ad_actions (undoes) where undoes is not null;
alter table ad_actions enable row level security;
alter table ad_actions force row level security;
create policy ad_actions_member_read on ad_actions for select to authenticated
  using (organization_id in (select auth.user_organization_ids()));
-- A person records only their own actions, in their own organizations.
create policy ad_actions_own_insert on ad_actions for insert to authenticated
  with check (organization_id in (select auth.user_organization_ids()) and user_id = (select auth.uid()));
grant select, insert on ad_actions to authenticated;
grant select, insert, update, delete on ad_actions to service_role;
