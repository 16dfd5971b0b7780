-- Pattern discovery (services/patterns.py).
--
-- Embeddings of evidence texts, cached by content hash (sha256 of the model name and the text): a
-- re-run embeds only texts it has never seen. Scoped to the organization (with RLS) rather than
-- platform-wide, so nobody can probe whether another tenant's research contains a given sentence.
create table evidence_embeddings (
  organization_id uuid not null references organizations (id) on delete cascade,
  content_hash text not null,
  model text not null,
  created_at timestamptz not null default now(),
  primary key (organization_id, content_hash)
);
do $$ begin
  if exists (select 1 from pg_extension where extname = 'vector') then
    alter table evidence_embeddings add column embedding vector(384) not null;
  end if;
end $$;

alter table evidence_embeddings enable row level security;
alter table evidence_embeddings force row level security;
create policy evidence_embeddings_tenant on evidence_embeddings for all to authenticated
  using (organization_id in (select auth.user_organization_ids()))
  with check (organization_id in (select auth.user_organization_ids()));
grant select, insert, update, delete on evidence_embeddings to authenticated, service_role;

-- A run replaces the brand's 'new' patterns and keeps the ones a person promoted or dismissed.
create index if not exists patterns_brand_status_idx on patterns (brand_id, status);
create index if not exists angles_brand_idx on angles (brand_id);
