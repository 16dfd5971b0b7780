-- Generated ads meet their results: each carries a short tracking id (in the suggested ad name and the
-- link's utm_content) that the sync finds on the live Meta ad, which it then records in meta_ad_id.
alter table generated_ads
  add column tracking_id text generated always as ('vt-' || left(id::text, 8)) stored;
create index generated_ads_tracking_idx on generated_ads (brand_id, tracking_id);
-- A live Meta ad is the result of one generated ad at most.
create unique index generated_ads_meta_ad_idx on generated_ads (meta_ad_id) where meta_ad_id is not null;
