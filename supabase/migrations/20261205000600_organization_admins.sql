-- Who can create brands: a member sees only their own membership row (user_organizations_self),
-- so the admins of the caller's own organizations, and nothing else, come from this function.
create function public.my_organization_admins() returns table (organization text, email text)
language sql stable security definer set search_path = '' as $$
  select o.name, u.email::text
  from public.user_organizations m
  join public.organizations o on o.id = m.organization_id
  join auth.users u on u.id = m.user_id
  where m.role = 'admin' and m.organization_id in (select auth.user_organization_ids())
$$;
revoke all on function public.my_organization_admins() from public, anon;
grant execute on function public.my_organization_admins() to authenticated, service_role;
