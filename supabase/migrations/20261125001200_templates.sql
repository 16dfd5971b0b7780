-- The template library: the stored image's identity (re-imports change nothing), a thumbnail for
-- the chat grid, who reviewed a template and why; platform reviewers, who alone see the pending
-- queue and approve or reject.

alter table scraped_templates
  add column sha256 text,
  add column content_type text,
  add column bytes integer check (bytes >= 0),
  add column width integer check (width > 0),
  add column height integer check (height > 0),
  add column thumbnail_path text,
  add column reviewed_by uuid references auth.users (id) on delete set null,
  add column review_reason text;
create unique index scraped_templates_sha256_key on scraped_templates (sha256);
create index scraped_templates_status_idx on scraped_templates (status, category, created_at desc);

-- Roles across every organization (the template library is platform-wide). Granted by the
-- operator (`viraltracker templates reviewer EMAIL`), never from a tenant's chat.
create table platform_roles (
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null check (role in ('template_reviewer')),
  granted_at timestamptz not null default now(),
  primary key (user_id, role)
);
alter table platform_roles enable row level security;
alter table platform_roles force row level security;
revoke insert, update, delete on platform_roles from authenticated;
create policy platform_roles_self on platform_roles for select to authenticated
  using (user_id = (select auth.uid()));

create or replace function public.is_template_reviewer() returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.platform_roles where user_id = (select auth.uid()) and role = 'template_reviewer'
  )
$$;
revoke all on function public.is_template_reviewer() from public;
grant execute on function public.is_template_reviewer() to authenticated, service_role;

-- Everyone signed in reads approved templates; the pending and rejected ones are the reviewers'.
drop policy scraped_templates_read on scraped_templates;
create policy scraped_templates_read on scraped_templates for select to authenticated
  using (status = 'approved' or (select public.is_template_reviewer()));
-- Reviewers change a template's review, and nothing else of it; imports stay the service role's.
revoke insert, update, delete on scraped_templates from authenticated;
grant update (status, reviewed_at, reviewed_by, review_reason) on scraped_templates to authenticated;
create policy scraped_templates_review on scraped_templates for update to authenticated
  using ((select public.is_template_reviewer()))
  with check ((select public.is_template_reviewer()) and reviewed_by = (select auth.uid()));
