-- Pattern discovery's vector columns, once the server has pgvector: the migrations skip them on a
-- Postgres without it, and this runs after them on every migrate (a no-op when all is in place).
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'vector') then
    create extension if not exists vector;
    alter table public.patterns add column if not exists centroid vector;
    alter table public.evidence_embeddings add column if not exists embedding vector not null;
  end if;
end
$$;
