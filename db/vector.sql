-- Pattern discovery's vector columns, once the server has pgvector: the migrations skip them on a
-- Postgres without it, and this runs after them on every migrate (a no-op when all is in place).
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'vector') then
    create extension if not exists vector;
    alter table public.patterns add column if not exists centroid vector;
    if not exists (
      select 1 from information_schema.columns
      where table_schema = 'public' and table_name = 'evidence_embeddings' and column_name = 'embedding'
    ) then
      -- A cache row without its vector is nothing: the next discovery embeds that evidence again.
      delete from public.evidence_embeddings;
      alter table public.evidence_embeddings add column embedding vector not null;
    end if;
  end if;
end
$$;
