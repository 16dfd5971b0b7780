-- Money and time as the ad account keeps them (services/money.py, services/brand_clock.py).
-- Each ad account's currency and timezone come from Meta (`currency`, `timezone_name`); a brand's
-- reporting currency and timezone follow from its first account or its first CSV import, and an
-- account in another currency is refused unless the organization keeps rates to convert it.
alter table brand_ad_accounts
  add column currency text check (currency ~ '^[A-Z]{3}$'),
  add column timezone text;

alter table brands
  add column currency text check (currency ~ '^[A-Z]{3}$'),
  add column timezone text;

-- Separators and symbol placement for the organization's people (Babel locale: en_US, de_DE, ...).
alter table organizations add column locale text not null default 'en_US';

-- Rates an organization keeps itself: 1 `from_currency` = `rate` `to_currency` on `day` (the latest
-- rate on or before a day converts that day's figures).
create table currency_rates (
  organization_id uuid not null references organizations (id) on delete cascade,
  day date not null,
  from_currency text not null check (from_currency ~ '^[A-Z]{3}$'),
  to_currency text not null check (to_currency ~ '^[A-Z]{3}$' and to_currency <> from_currency),
  rate numeric(20, 10) not null check (rate > 0),
  primary key (organization_id, from_currency, to_currency, day)
);

alter table currency_rates enable row level security;
alter table currency_rates force row level security;
create policy currency_rates_tenant on currency_rates for all to authenticated
  using (organization_id in (select auth.user_organization_ids()))
  with check (organization_id in (select auth.user_organization_ids()));
grant select, insert, update, delete on currency_rates to authenticated, service_role;
