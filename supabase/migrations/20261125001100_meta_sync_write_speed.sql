-- Faster daily-row writes (bench/meta_sync.py), with the same integrity or more.
--
-- A daily row had two foreign keys: its ad (meta_ad_id, organization_id) and its brand (brand_id,
-- organization_id). Each is checked per inserted row by a query that also locks the parent row, so
-- a sync of a million rows locked the one brand row a million times. One composite key to the ad,
-- (meta_ad_id, brand_id, organization_id), is checked once per row and says more: the row's brand
-- is its ad's brand (the importers already refused another brand's ads; now Postgres does too).
-- The brand is still enforced through the ad (meta_ads -> brands, on delete cascade). An ad moved
-- to another brand takes its days along (on update cascade; the rollup's update trigger follows).

alter table meta_ads add constraint meta_ads_owner_key unique (meta_ad_id, brand_id, organization_id);

do $$
declare
  c record;
begin
  for c in
    select conname from pg_constraint
    where conrelid = 'public.meta_ads_performance'::regclass and contype = 'f'
  loop
    execute format('alter table public.meta_ads_performance drop constraint %I', c.conname);
  end loop;
end
$$;

alter table meta_ads_performance
  add constraint meta_ads_performance_ad_fkey foreign key (meta_ad_id, brand_id, organization_id)
    references meta_ads (meta_ad_id, brand_id, organization_id) on update cascade on delete cascade;

-- A sync that stops mid-way (an error, a killed worker) resumes from the first day it had not
-- finished: set after each completed report run's rows are committed, cleared when a run completes.
alter table sync_state add column resume_from date;
