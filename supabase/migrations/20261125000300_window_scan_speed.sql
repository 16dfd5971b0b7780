-- Speed for large brands (bench/): the same tenancy rules, cheaper to apply.
--
-- 1. Policies compare organization_id with an array of the caller's organizations, computed
--    once per statement (an InitPlan), instead of probing a hashed subplan for every row.
--    `x = any (array(select f()))` and `x in (select f())` agree on every input, nulls included.
-- 2. Money is also kept in whole cents (generated, so writers are unchanged): summing bigint per
--    ad is several times cheaper than summing numeric (whose per-group state is large), and
--    sum(cents) * 0.01 is exactly sum(amount), to the cent, with the same scale.
-- 3. The window-scan index carries organization_id and the cents too, so a per-ad scan under
--    RLS (which must check organization_id) stays index-only instead of visiting the heap.

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
    execute format(
      'alter policy %I on %I '
      'using (organization_id = any (array(select auth.user_organization_ids()))) '
      'with check (organization_id = any (array(select auth.user_organization_ids())))',
      t || '_tenant', t);
  end loop;
  foreach t in array array['scheduled_jobs', 'job_runs'] loop
    execute format(
      'alter policy %I on %I '
      'using (organization_id is null or organization_id = any (array(select auth.user_organization_ids())))',
      t || '_read', t);
    execute format(
      'alter policy %I on %I '
      'using (organization_id = any (array(select auth.user_organization_ids()))) '
      'with check (organization_id = any (array(select auth.user_organization_ids())))',
      t || '_tenant_write', t);
  end loop;
end
$$;

alter policy organizations_member on organizations
  using (id = any (array(select auth.user_organization_ids())));

alter table meta_ads_performance
  add column spend_cents bigint generated always as ((spend * 100)::bigint) stored,
  add column purchase_value_cents bigint generated always as ((purchase_value * 100)::bigint) stored;

create index meta_ads_performance_brand_date_org_idx on meta_ads_performance (brand_id, date)
  include (organization_id, meta_ad_id, spend, impressions, link_clicks, purchases, purchase_value,
           video_3s_views, video_thruplays, spend_cents, purchase_value_cents);
drop index meta_ads_performance_brand_date_idx;
alter index meta_ads_performance_brand_date_org_idx rename to meta_ads_performance_brand_date_idx;
