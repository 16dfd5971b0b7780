-- The notification center: read state per person, notifications written only by the service role,
-- and a NOTIFY on every new notification so open chats show it at once.

-- An org-wide notification (user_id null) is read or unread for each member separately, so read
-- state lives beside it, one row per person who read it (personal ones too: one shape for both).
create table notification_reads (
  notification_id uuid not null references notifications (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  read_at timestamptz not null default now(),
  primary key (user_id, notification_id)
);
create index notification_reads_notification_idx on notification_reads (notification_id);
alter table notifications drop column read_at;

alter table notification_reads enable row level security;
alter table notification_reads force row level security;
-- A person sees and marks only their own reads, and only of notifications they can see.
create policy notification_reads_self on notification_reads for all to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()) and notification_id in (select id from notifications));

-- People read notifications; jobs (service role) write them. The tenant policy allowed members to
-- insert, edit or delete their organization's notifications: it becomes read-only. The restrictive
-- recipient policy (personal notifications are their recipient's alone) stays.
drop policy notifications_tenant on notifications;
create policy notifications_member_read on notifications for select to authenticated
  using (organization_id in (select auth.user_organization_ids()));
revoke insert, update, delete on notifications from authenticated;

create index notifications_user_idx on notifications (user_id, created_at desc) where user_id is not null;

-- One channel for the app processes' listener: ids only (content is read back under RLS).
create or replace function public.notification_created() returns trigger
language plpgsql as $$
begin
  perform pg_notify(
    'vt_notifications',
    json_build_object('id', new.id, 'organization_id', new.organization_id, 'user_id', new.user_id)::text
  );
  return null;
end
$$;
create trigger notifications_notify after insert on notifications
  for each row execute function public.notification_created();
