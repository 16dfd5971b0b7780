-- The whole data model (DESIGN §3). Every tenant row carries organization_id
-- directly, kept consistent with its brand by composite foreign keys, so that
-- one cheap RLS policy shape covers every table.

-- pgvector where the server has it (Supabase, the embedded server); a stock Postgres without it gets
-- everything but pattern discovery's vector columns (added by db/vector.sql once it is installed).
do $$ begin
  if exists (select 1 from pg_available_extensions where name = 'vector') then
    create extension if not exists vector;
  end if;
end $$;

-- tenancy ------------------------------------------------------------------

create table organizations (
  id uuid primary key default gen_random_uuid(),
  name text not null unique,
  created_at timestamptz not null default now()
);

create table user_organizations (
  user_id uuid not null references auth.users (id) on delete cascade,
  organization_id uuid not null references organizations (id) on delete cascade,
  role text not null default 'member' check (role in ('admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (user_id, organization_id)
);
create index user_organizations_org_idx on user_organizations (organization_id);

-- Our password hashes (argon2) for the embedded login; on Supabase, Supabase Auth owns passwords.
create table user_credentials (
  user_id uuid primary key references auth.users (id) on delete cascade,
  password_hash text not null,
  updated_at timestamptz not null default now()
);

create table brands (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references organizations (id) on delete cascade,
  name text not null,
  brand_voice_tone text,
  ad_library_url text,
  website_url text,
  niche text,
  created_at timestamptz not null default now(),
  unique (organization_id, name),
  unique (id, organization_id)
);

create table products (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  name text not null,
  description text,
  product_url text,
  price numeric(12, 2),
  auto_recommend_templates boolean not null default false,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade,
  unique (brand_id, name),
  unique (id, organization_id)
);

-- Meta ----------------------------------------------------------------------

create table brand_ad_accounts (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  meta_ad_account_id text not null check (meta_ad_account_id ~ '^act_[0-9]+$'),
  auth_method text not null default 'system_user' check (auth_method in ('system_user', 'oauth')),
  access_token_encrypted text,
  token_expires_at timestamptz,
  refresh_token_encrypted text,
  status text not null default 'active' check (status in ('active', 'expired', 'error', 'disconnected')),
  last_error text,
  last_synced_at timestamptz,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade,
  unique (brand_id, meta_ad_account_id)
);

create table meta_ads (
  meta_ad_id text primary key,
  brand_id uuid not null,
  organization_id uuid not null,
  meta_ad_account_id text,
  name text not null,
  campaign text,
  campaign_id text,
  adset text,
  adset_id text,
  format text not null default 'image' check (format in ('video', 'image', 'carousel')),
  ad_copy text,
  headline text,
  thumbnail_url text,
  video_id text,
  video_url text,
  source_template_id uuid,
  status text not null default 'active',
  created_time timestamptz,
  updated_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade,
  unique (meta_ad_id, organization_id)
);
create index meta_ads_brand_idx on meta_ads (brand_id);

create table meta_ads_performance (
  meta_ad_id text not null,
  date date not null,
  brand_id uuid not null,
  organization_id uuid not null,
  spend numeric(14, 2) not null default 0,
  impressions bigint not null default 0,
  reach bigint not null default 0,
  clicks bigint not null default 0,
  link_clicks bigint not null default 0,
  add_to_carts bigint not null default 0,
  purchases bigint not null default 0,
  purchase_value numeric(14, 2) not null default 0,
  video_3s_views bigint not null default 0,
  video_thruplays bigint not null default 0,
  video_p25 bigint not null default 0,
  video_p50 bigint not null default 0,
  video_p75 bigint not null default 0,
  video_p100 bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (meta_ad_id, date),
  foreign key (meta_ad_id, organization_id) references meta_ads (meta_ad_id, organization_id) on delete cascade,
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
-- Window scans per brand read only this index (index-only scan after VACUUM).
create index meta_ads_performance_brand_date_idx on meta_ads_performance (brand_id, date)
  include (meta_ad_id, spend, impressions, link_clicks, purchases, purchase_value,
           video_3s_views, video_thruplays);

create table meta_ad_destinations (
  meta_ad_id text not null,
  organization_id uuid not null,
  url text not null,
  canonical_url text not null,
  created_at timestamptz not null default now(),
  primary key (meta_ad_id, canonical_url),
  foreign key (meta_ad_id, organization_id) references meta_ads (meta_ad_id, organization_id) on delete cascade
);
create index meta_ad_destinations_canonical_idx on meta_ad_destinations (organization_id, canonical_url);

create table meta_ad_product_matches (
  meta_ad_id text not null,
  product_id uuid not null,
  organization_id uuid not null,
  match_method text not null default 'url',
  confidence real,
  primary key (meta_ad_id, product_id),
  foreign key (meta_ad_id, organization_id) references meta_ads (meta_ad_id, organization_id) on delete cascade,
  foreign key (product_id, organization_id) references products (id, organization_id) on delete cascade
);

create table sync_state (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  meta_ad_account_id text not null,
  stream text not null,
  high_water_mark date,
  last_run_at timestamptz,
  last_status text,
  last_error text,
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade,
  unique (meta_ad_account_id, stream)
);

-- creative intelligence ------------------------------------------------------

create table ad_creative_classifications (
  id uuid primary key default gen_random_uuid(),
  meta_ad_id text not null,
  brand_id uuid not null,
  organization_id uuid not null,
  input_hash text not null,
  prompt_version text not null,
  source text not null default 'model',
  model text,
  format text,
  awareness_level text check (awareness_level in
    ('unaware', 'problem_aware', 'solution_aware', 'product_aware', 'most_aware')),
  congruence_score real check (congruence_score between 0 and 1),
  congruence_components jsonb not null default '[]'::jsonb,
  hooks jsonb not null default '{}'::jsonb,
  benefits jsonb not null default '[]'::jsonb,
  angles jsonb not null default '[]'::jsonb,
  claims jsonb not null default '[]'::jsonb,
  transcript text,
  storyboard jsonb not null default '[]'::jsonb,
  landing_page_id uuid,
  classified_at timestamptz not null default now(),
  foreign key (meta_ad_id, organization_id) references meta_ads (meta_ad_id, organization_id) on delete cascade,
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade,
  unique (meta_ad_id, input_hash, prompt_version)
);
create index ad_creative_classifications_brand_idx on ad_creative_classifications (brand_id, meta_ad_id, classified_at desc);
create index ad_creative_classifications_dedup_idx on ad_creative_classifications (input_hash, prompt_version);

create table brand_ad_analysis (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  meta_ad_id text,
  data_source text not null check (data_source in ('ad_library', 'meta_api')),
  analysis jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index brand_ad_analysis_brand_idx on brand_ad_analysis (brand_id);

-- research ---------------------------------------------------------------------

create table amazon_reviews (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  asin text,
  rating smallint check (rating between 1 and 5),
  title text,
  body text not null,
  reviewed_on date,
  verified_purchase boolean not null default true,
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index amazon_reviews_brand_idx on amazon_reviews (brand_id, product_id);

create table amazon_review_analysis (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  analysis jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);

create table brand_landing_pages (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  url text not null,
  title text,
  raw_markdown text,
  content_hash text,
  benefits jsonb not null default '[]'::jsonb,
  persona_signals jsonb not null default '[]'::jsonb,
  copy_patterns jsonb not null default '[]'::jsonb,
  belief_first_analysis jsonb not null default '{}'::jsonb,
  objection_handling jsonb not null default '[]'::jsonb,
  testimonials jsonb not null default '[]'::jsonb,
  scraped_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade,
  unique (brand_id, url, content_hash)
);

create table competitor_landing_pages (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  competitor_name text,
  url text not null,
  raw_markdown text,
  content_hash text,
  analysis jsonb not null default '{}'::jsonb,
  scraped_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);

create table landing_page_analyses (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references organizations (id) on delete cascade,
  brand_id uuid,
  landing_page_id uuid references brand_landing_pages (id) on delete cascade,
  url text not null,
  sections jsonb not null default '{}'::jsonb,
  errors jsonb not null default '{}'::jsonb,
  prompt_version text,
  created_at timestamptz not null default now()
);

create table blueprints (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  name text not null,
  content jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);

-- strategy -------------------------------------------------------------------------

create table product_offer_variants (
  id uuid primary key default gen_random_uuid(),
  product_id uuid not null,
  organization_id uuid not null,
  name text not null,
  landing_page_url text,
  benefits jsonb not null default '[]'::jsonb,
  pain_points jsonb not null default '[]'::jsonb,
  objections jsonb not null default '[]'::jsonb,
  mechanism jsonb not null default '{}'::jsonb,
  desires jsonb not null default '[]'::jsonb,
  sample_hooks jsonb not null default '[]'::jsonb,
  voice_tone_override text,
  source_landing_page_id uuid references brand_landing_pages (id) on delete set null,
  created_at timestamptz not null default now(),
  foreign key (product_id, organization_id) references products (id, organization_id) on delete cascade
);

create table personas_4d (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  name text not null,
  demographics jsonb not null default '{}'::jsonb,
  psychographics jsonb not null default '{}'::jsonb,
  pains jsonb not null default '[]'::jsonb,
  desires jsonb not null default '[]'::jsonb,
  objections jsonb not null default '[]'::jsonb,
  language jsonb not null default '[]'::jsonb,
  awareness_level text,
  voice_tone_override text,
  source_breakdown jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);

create table angles (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  name text not null,
  description text,
  source_pattern_id uuid,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);

create table patterns (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  name text not null,
  members jsonb not null default '[]'::jsonb,
  confidence real check (confidence between 0 and 1),
  novelty real check (novelty between 0 and 1),
  source_breakdown jsonb not null default '{}'::jsonb,
  status text not null default 'new' check (status in ('new', 'seen', 'promoted', 'dismissed')),
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
do $$ begin
  if exists (select 1 from pg_extension where extname = 'vector') then
    alter table patterns add column centroid vector(384);
  end if;
end $$;

-- templates --------------------------------------------------------------------------

-- Scraped templates are a platform library (shared across organizations).
create table scraped_templates (
  id uuid primary key default gen_random_uuid(),
  status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
  name text,
  category text,
  format text,
  tags jsonb not null default '[]'::jsonb,
  source text,
  source_url text,
  description text,
  image_path text,
  created_at timestamptz not null default now(),
  reviewed_at timestamptz
);

create table template_recommendations (
  id uuid primary key default gen_random_uuid(),
  product_id uuid not null,
  organization_id uuid not null,
  template_id uuid not null references scraped_templates (id) on delete cascade,
  methodology text not null check (methodology in ('ai_match', 'performance', 'diversity')),
  score real,
  reason text,
  prompt_version text,
  used boolean not null default false,
  created_at timestamptz not null default now(),
  foreign key (product_id, organization_id) references products (id, organization_id) on delete cascade,
  unique (product_id, template_id, methodology)
);

create table generated_ads (
  id uuid primary key default gen_random_uuid(),
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  source_template_id uuid references scraped_templates (id) on delete set null,
  meta_ad_id text,
  image_path text,
  headline text,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index generated_ads_template_idx on generated_ads (source_template_id);

-- operations ---------------------------------------------------------------------------

create table scheduled_jobs (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid references organizations (id) on delete cascade,
  brand_id uuid references brands (id) on delete cascade,
  job_type text not null,
  cron text not null,
  params jsonb not null default '{}'::jsonb,
  enabled boolean not null default true,
  next_run_at timestamptz,
  created_at timestamptz not null default now()
);

create table job_runs (
  id uuid primary key default gen_random_uuid(),
  scheduled_job_id uuid references scheduled_jobs (id) on delete set null,
  organization_id uuid references organizations (id) on delete cascade,
  brand_id uuid references brands (id) on delete cascade,
  job_type text not null,
  status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  params jsonb not null default '{}'::jsonb,
  result jsonb,
  error text,
  attempts integer not null default 0,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz not null default now()
);
create index job_runs_org_idx on job_runs (organization_id, created_at desc);

create table notifications (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references organizations (id) on delete cascade,
  user_id uuid references auth.users (id) on delete cascade,
  type text not null,
  category text,
  title text not null,
  message text,
  metadata jsonb not null default '{}'::jsonb,
  read_at timestamptz,
  created_at timestamptz not null default now()
);
create index notifications_org_idx on notifications (organization_id, created_at desc);
