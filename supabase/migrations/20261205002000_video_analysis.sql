-- Deep video analysis (services/creative/video_analysis.py): what a classification saw of a video
-- ad, its timed transcript and claim sources, and what each analysis cost, for the monthly cap.

alter table ad_creative_classifications
  add column transcript_lines jsonb not null default '[]'::jsonb,
  add column claim_sources jsonb not null default '[]'::jsonb,
  -- video: the model watched the video; frames: it saw keyframes (no sound); copy: the video was not analysed
  add column media_analysis text check (media_analysis in ('video', 'frames', 'copy')),
  add column media_seconds real check (media_seconds >= 0),
  add column input_tokens integer check (input_tokens >= 0),
  add column output_tokens integer check (output_tokens >= 0);

-- An organization's own monthly allowance of analysed video minutes; null: the app's default
-- (VIRALTRACKER_VIDEO_MINUTES_PER_MONTH).
alter table organizations add column video_minutes_per_month real check (video_minutes_per_month >= 0);

-- Every video analysis a model was asked for, analysed or failed: the minutes the cap counts and the
-- tokens spent. Written by the classification job (service role); members read their organization's.
create table video_analyses (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references organizations (id) on delete cascade,
  brand_id uuid not null,
  meta_ad_id text not null,
  media_key text,
  input_hash text not null,
  prompt_version text not null,
  model text not null,
  seen text not null check (seen in ('video', 'frames')),
  delivery text check (delivery in ('inline', 'files_api', 'frames')),
  media_seconds real not null check (media_seconds >= 0),
  input_tokens integer not null default 0 check (input_tokens >= 0),
  output_tokens integer not null default 0 check (output_tokens >= 0),
  status text not null check (status in ('analysed', 'failed')),
  reason text,
  analysed_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index video_analyses_month_idx on video_analyses (organization_id, analysed_at);

alter table video_analyses enable row level security;
alter table video_analyses force row level security;
create policy video_analyses_tenant on video_analyses for select to authenticated
  using (organization_id in (select auth.user_organization_ids()));
grant select on video_analyses to authenticated;
grant select, insert, update, delete on video_analyses to service_role;
