-- Blueprints (issue 7, item 4): voice/tone overrides and re-runnable, comparable blueprints.

-- Voice/tone precedence: persona override -> offer variant override -> brands.brand_voice_tone.
-- The data model already declares both columns; this keeps the contract explicit (no-op there).
alter table personas_4d add column if not exists voice_tone_override text;
alter table product_offer_variants add column if not exists voice_tone_override text;

-- A blueprint reconstructs one landing page analysis for one brand. It remembers the options it
-- was made with (so a failed one can be re-run without re-entering them), how it went, and which
-- level of the voice/tone chain supplied the tone.
alter table blueprints
  add column landing_page_analysis_id uuid references landing_page_analyses (id) on delete set null,
  add column offer_variant_id uuid references product_offer_variants (id) on delete set null,
  add column persona_id uuid references personas_4d (id) on delete set null,
  add column options jsonb not null default '{}'::jsonb,
  add column status text not null default 'succeeded'
    check (status in ('pending', 'running', 'succeeded', 'failed')),
  add column error text,
  add column generator text check (generator in ('model', 'offline')),
  add column voice_tone_level text check (voice_tone_level in ('persona', 'offer_variant', 'brand', 'none')),
  add column created_by uuid references auth.users (id) on delete set null,
  add column updated_at timestamptz not null default now();
create index blueprints_analysis_idx on blueprints (landing_page_analysis_id, brand_id);
create index blueprints_org_idx on blueprints (organization_id, created_at desc);
