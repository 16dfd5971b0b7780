-- Chat history for Chainlit 2.12's SQLAlchemyDataLayer (chainlit/data/sql_alchemy.py).
-- Chainlit ships no DDL: these tables carry every column its queries read or write,
-- under the names it uses (lower-case tables, quoted camelCase columns).
--
-- Types follow what the data layer sends and expects back:
--   * ids are TEXT: Chainlit passes string ids and the layer logs and swallows SQL
--     errors, so a stricter type would silently drop history for any non-UUID id;
--   * "createdAt", "start", "end" are TEXT: Chainlit writes ISO strings, reads them back
--     as strings (get_user asserts a str) and orders steps by that text;
--   * "metadata", "generation", "props" are JSONB: Chainlit sends JSON strings and wants
--     dicts back; "modes" and "playerConfig" arrive as dicts;
--   * "tags" are TEXT[] (Python lists); "showInput" is TEXT ('true', 'false', 'json', ...).
--
-- Only the app's service-side connection (the connection owner) touches these tables:
-- RLS is on with no policy for anon/authenticated, and their grants are revoked.

create table users (
  "id" text primary key,
  "identifier" text not null unique,
  "metadata" jsonb not null default '{}'::jsonb,
  "createdAt" text
);

create table threads (
  "id" text primary key,
  "createdAt" text,
  "name" text,
  "userId" text references users ("id") on delete cascade,
  "userIdentifier" text,
  "tags" text[],
  "metadata" jsonb
);
-- A user's threads (list_threads / get_all_user_threads filter on "userId").
create index threads_user_idx on threads ("userId", "createdAt");

create table steps (
  "id" text primary key,
  "name" text not null,
  "type" text not null,
  "threadId" text not null references threads ("id") on delete cascade,
  "parentId" text,
  "command" text,
  "modes" jsonb,
  "streaming" boolean not null default false,
  "waitForAnswer" boolean,
  "isError" boolean,
  "metadata" jsonb,
  "tags" text[],
  "input" text,
  "output" text,
  "createdAt" text,
  "start" text,
  "end" text,
  "generation" jsonb,
  "showInput" text,
  "language" text,
  "defaultOpen" boolean,
  "autoCollapse" boolean,
  "icon" text  -- in StepDict; 2.12 itself moves a step's icon into "metadata"
);
-- A thread's steps in order (get_thread: where "threadId" in (...) order by "createdAt").
create index steps_thread_idx on steps ("threadId", "createdAt");

create table elements (
  "id" text primary key,
  "threadId" text references threads ("id") on delete cascade,
  "type" text,
  "url" text,
  "chainlitKey" text,
  "name" text not null,
  "display" text,
  "objectKey" text,
  "size" text,
  "page" int,
  "language" text,
  "forId" text,
  "mime" text,
  "props" jsonb,
  "autoPlay" boolean,
  "playerConfig" jsonb
);
create index elements_thread_idx on elements ("threadId");
create index elements_for_idx on elements ("forId");

create table feedbacks (
  "id" text primary key,
  "forId" text not null references steps ("id") on delete cascade,
  "threadId" text references threads ("id") on delete cascade,
  "value" int not null,
  "comment" text
);
create index feedbacks_for_idx on feedbacks ("forId");
create index feedbacks_thread_idx on feedbacks ("threadId");

-- Service side only. Our default privileges grant new tables to authenticated: undo that.
do $$
declare
  t text;
begin
  foreach t in array array['users', 'threads', 'steps', 'elements', 'feedbacks'] loop
    execute format('alter table %I enable row level security', t);
    execute format('revoke all on table %I from anon, authenticated', t);
  end loop;
end
$$;
