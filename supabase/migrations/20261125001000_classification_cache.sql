-- Background classification and asset downloads (services/classification.py, services/assets.py).
--
-- Classification cache: ad_creative_classifications already carries input_hash and prompt_version,
-- unique per (meta_ad_id, input_hash, prompt_version), with an (input_hash, prompt_version) index:
-- nothing to add. An unchanged ad reuses its row; the same creative in another ad of the brand
-- reuses the row it has (looked up by brand_id + input_hash + prompt_version, this index).
create index if not exists ad_creative_classifications_reuse_idx
  on ad_creative_classifications (brand_id, input_hash, prompt_version, classified_at desc);

-- Ad media kept in storage: one thumbnail image and one video per ad. `media_key` is the media's
-- identity (the video's id, the thumbnail's URL without Meta's per-sync signature): when it changes
-- the file is fetched again; when it does not, the stored file is kept.
create table ad_assets (
  id uuid primary key default gen_random_uuid(),
  meta_ad_id text not null,
  brand_id uuid not null,
  organization_id uuid not null,
  kind text not null check (kind in ('image', 'video')),
  media_key text not null,
  source_url text not null,
  path text not null,
  content_type text,
  bytes bigint not null check (bytes >= 0),
  sha256 text not null,
  fetched_at timestamptz not null default now(),
  foreign key (meta_ad_id, organization_id) references meta_ads (meta_ad_id, organization_id) on delete cascade,
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade,
  unique (meta_ad_id, kind)
);
create index ad_assets_brand_idx on ad_assets (brand_id, kind);
create index ad_assets_organization_idx on ad_assets (organization_id);

alter table ad_assets enable row level security;
alter table ad_assets force row level security;
create policy ad_assets_tenant on ad_assets for all to authenticated
  using (organization_id in (select auth.user_organization_ids()))
  with check (organization_id in (select auth.user_organization_ids()));
grant select, insert, update, delete on ad_assets to authenticated, service_role;
