-- What the window tools read of each ad's latest classification, small enough for an index-only
-- scan (bench/README.md).
--
-- With per-ad window sums from meta_ads_cumulative, the rest of top_hooks and congruence_summary
-- was the latest classification: DISTINCT ON over the brand's classification rows, sorted with
-- their hooks / congruence JSON (~1.4 kB each, compressed), then 7 congruence components taken
-- apart per ad on every call. These generated columns hold what those two tools need, derived
-- from the JSON on every write (writers are unchanged), and the brand index carries them:
--
--   has_spoken_hook, has_overlay_hook, has_visual_hook: whether hooks->'spoken' (and so on) is an
--     object, i.e. `nullif(hooks -> kind, 'null') is not null`, as services/hooks.py tests it;
--   congruence_pairs: the components as JSON text [[dimension, status], ...], element by element
--     `c ->> 'dimension'`, `c ->> 'status'` (nulls kept), as services/congruence.py reads them.
--     Classifications sharing a pattern are then counted once per pattern. Components that are
--     not an array are kept as they are, so taking them apart fails as it always did.

create function public.congruence_pairs(components jsonb) returns text
language sql immutable parallel safe as $$
  select case when jsonb_typeof(components) = 'array' then
    coalesce((select jsonb_agg(jsonb_build_array(e.c ->> 'dimension', e.c ->> 'status') order by e.n)
              from pg_catalog.jsonb_array_elements(components) with ordinality as e(c, n)), '[]')::text
    else components::text end
$$;

alter table ad_creative_classifications
  add column has_spoken_hook boolean generated always as (nullif(hooks -> 'spoken', 'null') is not null) stored,
  add column has_overlay_hook boolean generated always as (nullif(hooks -> 'overlay', 'null') is not null) stored,
  add column has_visual_hook boolean generated always as (nullif(hooks -> 'visual', 'null') is not null) stored,
  add column congruence_pairs text generated always as (public.congruence_pairs(congruence_components)) stored;

-- The same key as before (brand, ad, newest first), now covering: the latest classification of
-- every ad of a brand is one ordered index-only scan (organization_id is there for RLS).
create index ad_creative_classifications_latest_idx on ad_creative_classifications
  (brand_id, meta_ad_id, classified_at desc)
  include (organization_id, id, congruence_score, has_spoken_hook, has_overlay_hook, has_visual_hook,
           congruence_pairs);
drop index ad_creative_classifications_brand_idx;
alter index ad_creative_classifications_latest_idx rename to ad_creative_classifications_brand_idx;
