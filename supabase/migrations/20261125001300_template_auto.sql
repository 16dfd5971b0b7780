-- Auto-recommendations and ad runs from the template library.

-- A product opts in with products.auto_recommend_templates (data model); this is the bar a new
-- template's ai_match score must reach to be recommended to it.
alter table products
  add column auto_template_threshold real not null default 70
    check (auto_template_threshold >= 0 and auto_template_threshold <= 100);

-- When the auto-recommendation path recommended a scored template to the product (and notified its
-- organization): set once, so a re-run never notifies twice.
alter table template_recommendations add column auto_recommended_at timestamptz;

-- Generated ads remember the run and the slot they came from (re-running a run fills only the
-- missing slots), how they were made, and the reference they were made from.
alter table generated_ads
  add column job_run_id uuid references job_runs (id) on delete set null,
  add column position integer check (position >= 0),
  add column template_source text check (template_source in ('library', 'uploaded')),
  add column reference_meta_ad_id text,
  add column generator text,
  add column status text not null default 'generated' check (status in ('generated', 'preview'));
create unique index generated_ads_run_position_idx on generated_ads (job_run_id, position)
  where job_run_id is not null;
create index generated_ads_product_idx on generated_ads (product_id, created_at desc);
