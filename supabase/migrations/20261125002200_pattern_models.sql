-- Pattern discovery with Gemini embeddings (services/gemini_embeddings.py) beside the local MiniLM.
--
-- Embeddings and centroids lose their fixed width: MiniLM's vectors have 384 dimensions, Gemini's
-- 768. Every vector is stored with the model that made it (`evidence_embeddings.model`, part of the
-- content hash; `patterns.embedding_model`), and only vectors of one model are ever compared.
do $$ begin
  if exists (select 1 from pg_extension where extname = 'vector') then
    alter table evidence_embeddings alter column embedding type vector;
    alter table patterns alter column centroid type vector;
  end if;
end $$;
alter table patterns
  add column embedding_model text not null default 'all-MiniLM-L6-v2',
  add column named_by text not null default 'central_phrase'
    check (named_by in ('central_phrase', 'model'));
