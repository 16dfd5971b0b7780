-- Per-ad running totals (bench/README.md): window sums in two index lookups per ad.
--
-- meta_ads_cumulative holds, for every (ad, day) that has a meta_ads_performance row, the ad's
-- totals over all its daily rows from its first day through that day. An ad's sums over
-- [since, until] are then (totals at its last day <= until) - (totals at its last day < since),
-- and it has delivery in the window iff its last day <= until is >= since: two index-only
-- lookups per ad whatever the window's length, instead of reading every daily row in it
-- (services/models.py, per_ad_sums_sql). Money is in whole cents (bigint), so the differences
-- are exact. An ad's daily rows all carry its own brand (the importers refuse another brand's ads).
--
-- The table is derived, never written by the app: statement-level triggers on
-- meta_ads_performance (INSERT, including COPY and the insert half of INSERT ... ON CONFLICT;
-- UPDATE, including its update half; DELETE, including foreign-key cascades; TRUNCATE) recompute
-- the affected ads from their earliest changed day, starting from the ad's last cumulative row
-- before it. The triggers run as the writer (same RLS, same transaction), and lock the affected
-- meta_ads rows first so that concurrent writers of the same ad take turns (READ COMMITTED: the
-- second one then sees the first one's rows).

create table meta_ads_cumulative (
  meta_ad_id text not null,
  date date not null,
  brand_id uuid not null,
  organization_id uuid not null,
  spend_cents bigint not null,
  impressions bigint not null,
  link_clicks bigint not null,
  purchases bigint not null,
  purchase_value_cents bigint not null,
  video_3s_views bigint not null,
  video_thruplays bigint not null
);

-- No foreign keys: every row is derived from a daily row that has them (its ad, brand and
-- organization are the daily row's), and goes when that row goes (the DELETE trigger, which
-- foreign-key cascades from ads, brands and organizations fire too; TRUNCATE below). Checking
-- them again on every rollup write would cost a third of it.
--
-- Backfill before the indexes exist (sorted builds).
insert into meta_ads_cumulative (meta_ad_id, date, brand_id, organization_id, spend_cents, impressions,
  link_clicks, purchases, purchase_value_cents, video_3s_views, video_thruplays)
select p.meta_ad_id, p.date, p.brand_id, p.organization_id,
       (sum(p.spend_cents) over w)::bigint, (sum(p.impressions) over w)::bigint,
       (sum(p.link_clicks) over w)::bigint, (sum(p.purchases) over w)::bigint,
       (sum(p.purchase_value_cents) over w)::bigint, (sum(p.video_3s_views) over w)::bigint,
       (sum(p.video_thruplays) over w)::bigint
from meta_ads_performance p
window w as (partition by p.meta_ad_id order by p.date rows between unbounded preceding and current row)
order by p.meta_ad_id, p.date;

-- Both indexes cover the totals and organization_id (which RLS checks): index-only once vacuumed.
-- By (brand_id, date): every ad of a brand with a row on a given day, in one range scan (the
-- boundary days of a window: most ads of a live brand). By (meta_ad_id, date): an ad's last row
-- on or before a day, read backwards (ads without a row on the boundary day).
alter table meta_ads_cumulative
  add constraint meta_ads_cumulative_pkey primary key (meta_ad_id, date)
    include (organization_id, spend_cents, impressions, link_clicks, purchases, purchase_value_cents,
             video_3s_views, video_thruplays);
create index meta_ads_cumulative_brand_date_idx on meta_ads_cumulative (brand_id, date)
  include (meta_ad_id, organization_id, spend_cents, impressions, link_clicks, purchases,
           purchase_value_cents, video_3s_views, video_thruplays);

alter table meta_ads_cumulative enable row level security;
alter table meta_ads_cumulative force row level security;
create policy meta_ads_cumulative_tenant on meta_ads_cumulative for all to authenticated
  using (organization_id = any (array(select auth.user_organization_ids())))
  with check (organization_id = any (array(select auth.user_organization_ids())));
grant select, insert, update, delete on meta_ads_cumulative to authenticated, service_role;

-- Recompute the running totals of `ads` from the matching day in `froms` on: drop their rows from
-- that day, then add the totals before it (the ad's last earlier row, if any) to running sums of
-- its daily rows from that day. Every step is a few index lookups per ad (primary keys by ad and
-- day): nested loops only, however many ads change (a hash or merge join would read every row
-- of both tables to change a few).
create function public.meta_ads_cumulative_refresh(ads text[], froms date[]) returns void
language plpgsql set search_path = '' set enable_hashjoin = off set enable_mergejoin = off as $$
begin
  -- One writer per ad at a time (row locks: no lock-table entry per ad).
  perform 1 from public.meta_ads a where a.meta_ad_id = any (ads)
    order by a.meta_ad_id for no key update of a;
  delete from public.meta_ads_cumulative c
  using unnest(ads, froms) as x(meta_ad_id, since)
  where c.meta_ad_id = x.meta_ad_id and c.date >= x.since;
  insert into public.meta_ads_cumulative (meta_ad_id, date, brand_id, organization_id, spend_cents,
    impressions, link_clicks, purchases, purchase_value_cents, video_3s_views, video_thruplays)
  select p.meta_ad_id, p.date, p.brand_id, p.organization_id,
         coalesce(b.spend_cents, 0) + (sum(p.spend_cents) over w)::bigint,
         coalesce(b.impressions, 0) + (sum(p.impressions) over w)::bigint,
         coalesce(b.link_clicks, 0) + (sum(p.link_clicks) over w)::bigint,
         coalesce(b.purchases, 0) + (sum(p.purchases) over w)::bigint,
         coalesce(b.purchase_value_cents, 0) + (sum(p.purchase_value_cents) over w)::bigint,
         coalesce(b.video_3s_views, 0) + (sum(p.video_3s_views) over w)::bigint,
         coalesce(b.video_thruplays, 0) + (sum(p.video_thruplays) over w)::bigint
  from unnest(ads, froms) as x(meta_ad_id, since)
  join public.meta_ads_performance p on p.meta_ad_id = x.meta_ad_id and p.date >= x.since
  left join lateral (
    select c.spend_cents, c.impressions, c.link_clicks, c.purchases, c.purchase_value_cents,
           c.video_3s_views, c.video_thruplays
    from public.meta_ads_cumulative c
    where c.meta_ad_id = x.meta_ad_id and c.date < x.since
    order by c.date desc
    limit 1) b on true
  window w as (partition by p.meta_ad_id order by p.date rows between unbounded preceding and current row)
  order by p.meta_ad_id, p.date;
end
$$;

-- Postgres allows transition tables only on single-event triggers: one trigger per event, one
-- function for all three (each branch names only its own transition tables).
create function public.meta_ads_cumulative_sync() returns trigger
language plpgsql set search_path = '' as $$
declare
  ads text[];
  froms date[];
begin
  if tg_op = 'INSERT' then
    select array_agg(x.meta_ad_id), array_agg(x.since) into ads, froms
    from (select n.meta_ad_id, min(n.date) as since from new_rows n group by n.meta_ad_id) x;
  elsif tg_op = 'DELETE' then
    select array_agg(x.meta_ad_id), array_agg(x.since) into ads, froms
    from (select o.meta_ad_id, min(o.date) as since from old_rows o group by o.meta_ad_id) x;
  else
    -- Only rows whose key, brand, organization or counted figures changed (not, say, updated_at).
    select array_agg(x.meta_ad_id), array_agg(x.since) into ads, froms
    from (
      select d.meta_ad_id, min(d.date) as since
      from (
        (select n.meta_ad_id, n.date, n.brand_id, n.organization_id, n.spend, n.impressions,
                n.link_clicks, n.purchases, n.purchase_value, n.video_3s_views, n.video_thruplays
         from new_rows n
         except all
         select o.meta_ad_id, o.date, o.brand_id, o.organization_id, o.spend, o.impressions,
                o.link_clicks, o.purchases, o.purchase_value, o.video_3s_views, o.video_thruplays
         from old_rows o)
        union all
        (select o.meta_ad_id, o.date, o.brand_id, o.organization_id, o.spend, o.impressions,
                o.link_clicks, o.purchases, o.purchase_value, o.video_3s_views, o.video_thruplays
         from old_rows o
         except all
         select n.meta_ad_id, n.date, n.brand_id, n.organization_id, n.spend, n.impressions,
                n.link_clicks, n.purchases, n.purchase_value, n.video_3s_views, n.video_thruplays
         from new_rows n)
      ) d
      group by d.meta_ad_id) x;
  end if;
  if ads is not null then
    perform public.meta_ads_cumulative_refresh(ads, froms);
  end if;
  return null;
end
$$;

-- The daily rows are all gone (TRUNCATE, alone or cascading from ads, brands, organizations), so
-- the rollup goes too. When the same TRUNCATE named the rollup as well, it is empty already and
-- still open in that statement (it could not be truncated again): nothing left to do then.
create function public.meta_ads_cumulative_truncate() returns trigger
language plpgsql set search_path = '' as $$
begin
  if exists (select 1 from public.meta_ads_cumulative) then
    truncate public.meta_ads_cumulative;
  end if;
  return null;
end
$$;

create trigger meta_ads_cumulative_insert after insert on meta_ads_performance
  referencing new table as new_rows
  for each statement execute function public.meta_ads_cumulative_sync();
create trigger meta_ads_cumulative_update after update on meta_ads_performance
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.meta_ads_cumulative_sync();
create trigger meta_ads_cumulative_delete after delete on meta_ads_performance
  referencing old table as old_rows
  for each statement execute function public.meta_ads_cumulative_sync();
create trigger meta_ads_cumulative_truncate after truncate on meta_ads_performance
  for each statement execute function public.meta_ads_cumulative_truncate();
