-- Meta token upkeep: the person whose Facebook sign-in a connection uses, so the daily check renews
-- the token only while that person still uses the app (a departed person's access is not extended).
alter table brand_ad_accounts add column connected_by uuid references auth.users (id) on delete set null;

-- Archived brands: hidden from lists and name resolution, their schedules stopped, kept for history.
alter table brands add column archived_at timestamptz;
