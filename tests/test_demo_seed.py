"""The demo seed: enough realistic, internally consistent data for every analysis, and the same every time."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from db.pool import Database
from services.demo.seed import (
    CONGRUENCE_DIMENSIONS,
    CONGRUENCE_STATUSES,
    DEMO_ORGANIZATIONS,
    DEMO_USERS,
    HOOK_CATEGORIES,
    DemoSummary,
    seed_demo,
)
from services.platform.accounts import add_user, create_organization, verify_password

TODAY = date.today()
SEED = 11

# Every check reads only the demo organizations' rows (the module's database also holds its other tests' rows).
DEMO = "organization_id in (select id from organizations where name = any(%(orgs)s))"


@pytest.fixture(scope="module")
def db(own_db: Database) -> Database:
    """Seeding replaces the demo organizations: this module seeds its own database, never the shared one."""
    return own_db


async def _one(db: Database, query: str, **params: Any) -> dict[str, Any]:
    async with db.as_owner() as conn:
        cur = await conn.execute(query, {"orgs": list(DEMO_ORGANIZATIONS), **params})
        row = await cur.fetchone()
    assert row is not None
    return row


@pytest.fixture(scope="module")
async def seeded(db: Database) -> DemoSummary:
    steps: list[str] = []
    summary = await seed_demo(db, seed=SEED, today=TODAY, progress=steps.append)
    assert {"organizations", "users", "performance"} <= set(steps)
    return summary


async def test_summary_matches_the_database(db: Database, seeded: DemoSummary) -> None:
    row = await _one(
        db,
        "select (select count(*) from organizations where name = any(%(orgs)s)) as orgs,"
        f" (select count(*) from brands where {DEMO}) as brands,"
        f" (select count(*) from meta_ads where {DEMO}) as ads,"
        f" (select count(*) from meta_ads where {DEMO} and format = 'video') as videos,"
        f" (select count(*) from meta_ads where {DEMO} and format = 'image') as images,"
        f" (select count(distinct meta_ad_id) from ad_creative_classifications where {DEMO}) as classified,"
        f" (select count(*) from meta_ads_performance where {DEMO}) as performance_rows,"
        f" (select min(date) from meta_ads_performance where {DEMO}) as first_day,"
        f" (select max(date) from meta_ads_performance where {DEMO}) as last_day,"
        f" (select count(*) from brand_landing_pages where {DEMO}) as landing_pages,"
        f" (select count(*) from meta_ad_product_matches where {DEMO}) as matches,"
        f" (select count(*) from meta_ad_destinations where {DEMO}) as destinations,"
        " (select count(*) from scraped_templates where source = 'demo') as templates",
    )
    assert row["orgs"] == seeded.organizations == 2
    assert row["brands"] == len(seeded.brands) >= 4
    assert row["ads"] == seeded.ads >= 300
    assert row["videos"] > row["images"] > 0
    assert row["matches"] == row["destinations"] == row["ads"]
    assert row["classified"] == seeded.classified_ads >= 0.8 * row["ads"]
    assert seeded.unclassified_ads == row["ads"] - row["classified"] > 0
    assert row["performance_rows"] == seeded.performance_rows
    assert (row["first_day"], row["last_day"]) == (TODAY - timedelta(days=90), TODAY - timedelta(days=1))
    assert row["landing_pages"] == seeded.landing_pages == seeded.products
    assert row["templates"] == seeded.templates >= 10
    assert {u.email for u in seeded.users} == {u.email for u in DEMO_USERS}


async def test_counts_are_internally_consistent(db: Database, seeded: DemoSummary) -> None:
    row = await _one(
        db,
        "select count(*) filter (where reach > impressions) as reach_over,"
        " count(*) filter (where not (link_clicks <= clicks and clicks <= impressions)) as clicks_over,"
        " count(*) filter (where not (video_thruplays <= video_3s_views and video_3s_views <= impressions))"
        "   as video_over,"
        " count(*) filter (where not (video_p25 >= video_p50 and video_p50 >= video_p75"
        "   and video_p75 >= video_p100 and video_p100 <= video_thruplays)) as quartiles_out_of_order,"
        " count(*) filter (where purchases > add_to_carts or purchases > link_clicks) as purchases_over,"
        " count(*) filter (where purchases = 0 and purchase_value <> 0) as value_without_purchase,"
        " count(*) filter (where a.format <> 'video' and (video_3s_views + video_thruplays + video_p25"
        "   + video_p50 + video_p75 + video_p100) > 0) as image_with_video,"
        " count(*) filter (where spend <= 0 or spend <> round(spend, 2)) as bad_spend,"
        " count(*) filter (where purchases = 0) as zero_purchase_days,"
        " 1000 * sum(spend) / sum(impressions) as cpm, sum(link_clicks)::float8 / sum(impressions) as ctr,"
        " sum(purchase_value) / sum(spend) as roas"
        " from meta_ads_performance p join meta_ads a using (meta_ad_id)"
        f" where p.{DEMO}",
    )
    problems = {k: v for k, v in row.items() if k not in ("zero_purchase_days", "cpm", "ctr", "roas") and v}
    assert problems == {}
    assert row["zero_purchase_days"] > 0
    assert 8 <= row["cpm"] <= 40
    assert 0.005 <= row["ctr"] <= 0.03
    assert 0.3 <= row["roas"] <= 5


async def test_spend_is_concentrated_in_a_few_ads(db: Database, seeded: DemoSummary) -> None:
    row = await _one(
        db,
        "with per_ad as (select meta_ad_id, sum(spend) as spend from meta_ads_performance"
        f"   where {DEMO} group by meta_ad_id),"
        " ranked as (select spend, row_number() over (order by spend desc) as rank,"
        "   count(*) over () as n from per_ad)"
        " select sum(spend) filter (where rank <= ceil(n * 0.1)) / sum(spend) as top_decile_share,"
        " count(*) filter (where spend < 50) as under_50 from ranked",
    )
    assert row["top_decile_share"] > 0.4
    assert row["under_50"] > 0


async def test_video_hook_and_hold_rates_look_like_meta(db: Database, seeded: DemoSummary) -> None:
    row = await _one(
        db,
        "with per_ad as (select meta_ad_id, sum(video_3s_views)::float8 / sum(impressions) as hook_rate,"
        "   sum(video_thruplays)::float8 / nullif(sum(video_3s_views), 0) as hold_rate"
        f"   from meta_ads_performance join meta_ads a using (meta_ad_id, organization_id)"
        f"   where a.{DEMO} and a.format = 'video' group by meta_ad_id having sum(impressions) > 5000)"
        " select percentile_cont(0.5) within group (order by hook_rate) as hook_rate,"
        " percentile_cont(0.5) within group (order by hold_rate) as hold_rate from per_ad",
    )
    assert 0.15 <= row["hook_rate"] <= 0.45
    assert 0.10 <= row["hold_rate"] <= 0.40


async def test_classifications_have_the_shapes_other_code_reads(db: Database, seeded: DemoSummary) -> None:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select c.hooks, c.congruence_components, c.congruence_score, c.awareness_level, c.transcript,"
            " c.storyboard, c.landing_page_id, a.format from ad_creative_classifications c"
            " join meta_ads a using (meta_ad_id) where c.organization_id in"
            " (select id from organizations where name = any(%s))",
            (list(DEMO_ORGANIZATIONS),),
        )
        rows = await cur.fetchall()
    assert rows
    for row in rows:
        components = row["congruence_components"]
        assert [c["dimension"] for c in components] == list(CONGRUENCE_DIMENSIONS)
        assert {c["status"] for c in components} <= set(CONGRUENCE_STATUSES)
        aligned = sum(c["status"] == "aligned" for c in components)
        weak = sum(c["status"] == "weak" for c in components)
        assert row["congruence_score"] == pytest.approx((aligned + 0.5 * weak) / 7, abs=1e-3)
        hooks = row["hooks"]
        assert set(hooks) == {"spoken", "overlay", "visual"}
        assert hooks["visual"] is not None
        for hook in filter(None, hooks.values()):
            assert hook["category"] in HOOK_CATEGORIES and hook["text"]
        if row["format"] == "video":
            assert 3 <= len(row["storyboard"]) <= 6
            assert (row["transcript"] is None) == (hooks["spoken"] is None)
        else:
            assert hooks["spoken"] is None and hooks["overlay"] is not None
            assert len(row["storyboard"]) == 1 and row["transcript"] is None
        assert row["landing_page_id"] is not None
    statuses = {c["status"] for row in rows for c in row["congruence_components"]}
    assert statuses == set(CONGRUENCE_STATUSES)


async def test_the_same_seed_gives_the_same_figures(db: Database, seeded: DemoSummary) -> None:
    totals = (
        "select sum(spend) as spend, sum(purchases) as purchases, sum(video_3s_views) as views,"
        f" string_agg(a.name, ',' order by a.name) as names from meta_ads_performance p"
        f" join meta_ads a using (meta_ad_id) where p.{DEMO}"
    )
    before = await _one(db, totals)
    again = await seed_demo(db, seed=SEED, today=TODAY)
    assert again.model_dump() == seeded.model_dump()
    assert await _one(db, totals) == before


async def test_if_empty_leaves_an_existing_database_alone(db: Database, seeded: DemoSummary) -> None:
    summary = await seed_demo(db, if_empty=True)
    assert summary.skipped and summary.ads == 0
    assert [u.email for u in summary.users] == [u.email for u in DEMO_USERS]


@pytest.mark.parametrize("user", DEMO_USERS, ids=lambda u: u.email)
async def test_demo_users_can_sign_in(db: Database, seeded: DemoSummary, user: Any) -> None:
    async with db.as_owner() as conn:
        assert await verify_password(conn, email=user.email, password=user.password) is not None
        assert await verify_password(conn, email=user.email, password=user.password + "x") is None
        cur = await conn.execute(
            "select o.name, uo.role from user_organizations uo"
            " join organizations o on o.id = uo.organization_id join auth.users u on u.id = uo.user_id"
            " where u.email = %s",
            (user.email,),
        )
        memberships = await cur.fetchall()
    assert memberships == [{"name": user.organization, "role": user.role}]


async def test_older_password_hashes_still_sign_in_and_are_upgraded(db: Database) -> None:
    """A hash made with argon2's heavier library defaults keeps working, and the first sign-in
    stores it again with the current (cheaper, OWASP) parameters."""
    from argon2 import PasswordHasher

    email = "old-hash@upgrade.example"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name="Upgrade Co")
        user_id = await add_user(conn, email=email, organization_id=org, password="s3cret-pass")
        old = PasswordHasher().hash("s3cret-pass")  # m=65536, t=3, p=4
        await conn.execute(
            "update user_credentials set password_hash = %s where user_id = %s", (old, user_id)
        )
    async with db.as_owner() as conn:
        assert await verify_password(conn, email=email, password="wrong") is None
        cur = await conn.execute("select password_hash from user_credentials where user_id = %s", (user_id,))
        assert (await cur.fetchone()) == {"password_hash": old}  # a failed sign-in changes nothing
        assert await verify_password(conn, email=email, password="s3cret-pass") is not None
        cur = await conn.execute("select password_hash from user_credentials where user_id = %s", (user_id,))
        row = await cur.fetchone()
    assert row is not None and row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    async with db.as_owner() as conn:
        assert await verify_password(conn, email=email, password="s3cret-pass") is not None
        await conn.execute("delete from auth.users where id = %s", (user_id,))
        await conn.execute("delete from organizations where id = %s", (org,))
