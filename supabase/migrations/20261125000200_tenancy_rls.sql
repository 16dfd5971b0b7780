-- Tenancy: every request runs as `authenticated` with the caller's JWT claims;
-- these policies confine it to the caller's organizations.

create or replace function auth.user_organization_ids() returns setof uuid
language sql stable security definer set search_path = '' as $$
  select organization_id from public.user_organizations where user_id = (select auth.uid())
$$;
revoke all on function auth.user_organization_ids() from public;
grant execute on function auth.user_organization_ids() to authenticated, service_role;

grant select, insert, update, delete on all tables in schema public to authenticated, service_role;
alter default privileges in schema public grant select, insert, update, delete on tables to authenticated, service_role;
revoke all on public.user_credentials from authenticated;

alter table organizations enable row level security;
alter table organizations force row level security;
create policy organizations_member on organizations for select to authenticated
  using (id in (select auth.user_organization_ids()));

alter table user_organizations enable row level security;
alter table user_organizations force row level security;
create policy user_organizations_self on user_organizations for select to authenticated
  using (user_id = (select auth.uid()));

alter table user_credentials enable row level security;
alter table user_credentials force row level security;

-- Tables whose rows belong to exactly one organization.
do $$
declare
  t text;
begin
  foreach t in array array[
    'brands', 'products', 'brand_ad_accounts', 'meta_ads', 'meta_ads_performance',
    'meta_ad_destinations', 'meta_ad_product_matches', 'sync_state',
    'ad_creative_classifications', 'brand_ad_analysis', 'amazon_reviews',
    'amazon_review_analysis', 'brand_landing_pages', 'competitor_landing_pages',
    'landing_page_analyses', 'blueprints', 'product_offer_variants', 'personas_4d',
    'angles', 'patterns', 'template_recommendations', 'generated_ads', 'notifications'
  ] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format(
      'create policy %I on %I for all to authenticated '
      'using (organization_id in (select auth.user_organization_ids())) '
      'with check (organization_id in (select auth.user_organization_ids()))',
      t || '_tenant', t);
  end loop;
end
$$;

-- Notifications addressed to one user are that user's alone.
create policy notifications_recipient on notifications as restrictive for all to authenticated
  using (user_id is null or user_id = (select auth.uid()));

-- Platform-wide schedules and runs (organization_id null) are readable by everyone signed in.
do $$
declare
  t text;
begin
  foreach t in array array['scheduled_jobs', 'job_runs'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format(
      'create policy %I on %I for select to authenticated '
      'using (organization_id is null or organization_id in (select auth.user_organization_ids()))',
      t || '_read', t);
    execute format(
      'create policy %I on %I for all to authenticated '
      'using (organization_id in (select auth.user_organization_ids())) '
      'with check (organization_id in (select auth.user_organization_ids()))',
      t || '_tenant_write', t);
  end loop;
end
$$;

-- The template library is shared: everyone signed in reads it; only the service role writes.
alter table scraped_templates enable row level security;
alter table scraped_templates force row level security;
create policy scraped_templates_read on scraped_templates for select to authenticated using (true);
