-- More evidence for pattern discovery (services/reviews_import.py, services/reddit.py,
-- services/competitor_ads.py, competitor landing pages in services/landing_pages.py).

-- Imported Amazon reviews carry a key (sha256 of the ASIN and the normalised review text, computed by
-- the importer): re-importing the same export adds nothing. Rows written without one (the demo seed)
-- are not constrained.
alter table amazon_reviews add column if not exists import_key text;
create unique index if not exists amazon_reviews_import_key_idx
  on amazon_reviews (brand_id, import_key) where import_key is not null;

-- Reddit discussions found for a brand's research question: posts and their top comments, verbatim.
create table reddit_posts (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  reddit_id text not null,               -- Reddit's fullname: t3_… (post) or t1_… (comment)
  kind text not null check (kind in ('post', 'comment')),
  post_reddit_id text,                   -- a comment's post
  query text not null,
  subreddit text,
  title text,
  body text not null default '',
  score integer,
  permalink text,
  created timestamptz,                   -- when it was posted on Reddit
  fetched_at timestamptz not null default now(),
  unique (brand_id, reddit_id),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index reddit_posts_org_idx on reddit_posts (organization_id);

-- Competitors' ads from the Meta Ad Library (ads_archive), one row per ad archive id.
create table competitor_ads (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  ad_archive_id text not null,
  page_id text not null,
  page_name text,
  country text,
  bodies jsonb not null default '[]'::jsonb,
  link_titles jsonb not null default '[]'::jsonb,
  link_descriptions jsonb not null default '[]'::jsonb,
  delivery_start timestamptz,
  delivery_stop timestamptz,
  snapshot_url text,                     -- without the access_token Meta puts in it
  fetched_at timestamptz not null default now(),
  unique (brand_id, ad_archive_id),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index competitor_ads_page_idx on competitor_ads (brand_id, page_id);
create index competitor_ads_org_idx on competitor_ads (organization_id);

-- A competitor's page is stored once per distinct content, like the brand's own pages.
create unique index if not exists competitor_landing_pages_content_idx
  on competitor_landing_pages (brand_id, url, content_hash);

do $$
declare
  t text;
begin
  foreach t in array array['reddit_posts', 'competitor_ads'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format(
      'create policy %I on %I for all to authenticated '
      'using (organization_id in (select auth.user_organization_ids())) '
      'with check (organization_id in (select auth.user_organization_ids()))',
      t || '_tenant', t);
    execute format('grant select, insert, update, delete on %I to authenticated, service_role', t);
  end loop;
end
$$;
