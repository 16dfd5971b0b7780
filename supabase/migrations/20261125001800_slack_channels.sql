-- An organization's Slack channel for its notifications (services/briefings.py, services/notifications.py):
-- each new org-wide notification is posted there by a `slack_notification` job queued in the same
-- transaction as the notification. One channel per organization; no row = not posted to Slack.
create table organization_slack_channels (
  organization_id uuid primary key references organizations (id) on delete cascade,
  channel text not null check (channel ~ '^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{8,20})$'),
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now()
);

alter table organization_slack_channels enable row level security;
alter table organization_slack_channels force row level security;
-- Members see their organizations' channel; only their admins set or clear it.
create policy organization_slack_channels_tenant on organization_slack_channels for select to authenticated
  using (organization_id in (select auth.user_organization_ids()));
create policy organization_slack_channels_admin on organization_slack_channels for all to authenticated
  using (organization_id in (select organization_id from public.user_organizations
                             where user_id = (select auth.uid()) and role = 'admin'))
  with check (organization_id in (select organization_id from public.user_organizations
                                  where user_id = (select auth.uid()) and role = 'admin'));
grant select, insert, update, delete on organization_slack_channels to authenticated, service_role;
