-- "Connect Facebook": one row per OAuth dialog a person opened from /connect_meta.
-- The dialog's `state` carries the nonce plus an HMAC; the row binds it to the person and brand,
-- expires it, and records its one use (a replayed callback is refused). After the code exchange
-- the long-lived token waits here, encrypted, while the person picks one of several ad accounts.
create table meta_oauth_states (
  nonce text primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  brand_id uuid not null,
  organization_id uuid not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  access_token_encrypted text,
  token_expires_at timestamptz,
  created_at timestamptz not null default now(),
  foreign key (brand_id, organization_id) references brands (id, organization_id) on delete cascade
);
create index meta_oauth_states_expiry_idx on meta_oauth_states (expires_at);

-- Only the app's service side reads it (the callback has no signed-in session of its own).
alter table meta_oauth_states enable row level security;
alter table meta_oauth_states force row level security;
revoke all on table meta_oauth_states from anon, authenticated;
