-- Pattern discovery re-runs (services/patterns.py): the hash of the evidence (and angles) a brand's
-- last run clustered, so a run over the same evidence returns the stored patterns without clustering.
create table pattern_runs (
  brand_id uuid not null,
  organization_id uuid not null,
  product_id uuid,
  evidence_hash text not null,
  patterns integer not null,
  evidence_items integer not null,
  unclustered integer not null,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create unique index pattern_runs_scope_idx
  on pattern_runs (brand_id, coalesce(product_id, '00000000-0000-0000-0000-000000000000'::uuid));

alter table pattern_runs enable row level security;
alter table pattern_runs force row level security;
create policy pattern_runs_tenant on pattern_runs for all to authenticated
  using (organization_id in (select auth.user_organization_ids()))
  with check (organization_id in (select auth.user_organization_ids()));
grant select, insert, update, delete on pattern_runs to authenticated, service_role;
