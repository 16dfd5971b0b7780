-- A product's pages (canonical URLs, as the sync canonicalises ad destinations) and archiving:
-- an archived product is hidden from lists and name resolution but kept for history.
alter table products add column product_pages text[] not null default '{}';
alter table products add column archived_at timestamptz;
