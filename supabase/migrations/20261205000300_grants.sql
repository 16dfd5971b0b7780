-- Grants: `anon` reaches nothing of ours, `authenticated` reaches tenant data only, and always
-- under forced RLS. Supabase's own setup grants ALL on every new table, sequence and function
-- in public to anon and authenticated; 20261125000200 granted new tables to authenticated too.
-- From here on a migration grants what a role needs, table by table.

-- The migration ledger (db/migrate.py creates it before any migration runs, so the blanket grant
-- of 20261125000200 reached it): a signed-in user who deletes its rows breaks every later `db up`.
alter table public.schema_migrations enable row level security;
revoke all on table public.schema_migrations from anon, authenticated;

-- Organizations and memberships are read by their members and written only at onboarding (owner).
revoke insert, update, delete, truncate, references, trigger
  on table public.organizations, public.user_organizations from authenticated;

-- anon is never used by the app (the server signs requests in as `authenticated`).
revoke all on all tables in schema public from anon;
revoke all on all sequences in schema public from anon, authenticated;
revoke all on all functions in schema public from anon;
revoke all on function auth.user_organization_ids() from anon;

-- TRUNCATE ignores RLS; TRIGGER and REFERENCES are never a signed-in user's business.
revoke truncate, references, trigger on all tables in schema public from authenticated;

-- Nobody signed in creates objects (a table or function of theirs could shadow ours). The auth
-- schema is Supabase's where it exists, and bootstrap.sql grants nothing there but usage.
revoke create on schema public from public, anon, authenticated;

-- Future objects: granted to the service role by default, to anon/authenticated only on purpose.
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;
alter default privileges in schema public revoke all on functions from anon, authenticated;
