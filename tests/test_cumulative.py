"""The per-ad running totals (meta_ads_cumulative) stay exactly right however the daily rows change.

Every check recomputes the expected figures in Python from the daily rows alone: the whole rollup
row by row, and the per-ad window sums the tools use (`per_ad_sums_sql`, as the tenant under RLS)
for every window over the brand's days, including windows that start or end in a gap.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from agent.runner import run_turn
from db.pool import Caller, Database
from services.meta.csv_import import import_meta_csv
from services.models import per_ad_sums_sql
from services.platform.accounts import add_user, create_organization, find_caller

ORG = "Cumulative Org"
BRAND = "Cumulative Brand"
EMAIL = "ana@cumulative.example"
FIGURES = (
    "spend",
    "impressions",
    "link_clicks",
    "purchases",
    "purchase_value",
    "video_3s_views",
    "video_thruplays",
)
ROLLUP = (
    "spend_cents",
    "impressions",
    "link_clicks",
    "purchases",
    "purchase_value_cents",
    "video_3s_views",
    "video_thruplays",
)
HEADER = (
    "Day", "Ad ID", "Ad name", "Campaign name", "Ad set name", "Amount spent (USD)", "Impressions", "Reach",
    "Clicks (all)", "Link clicks", "Adds to cart", "Purchases", "Purchases conversion value",
    "3-second video plays", "ThruPlays", "Video plays at 25%", "Video plays at 50%", "Video plays at 75%",
    "Video plays at 100%",
)  # fmt: skip
AD_A, AD_B, AD_C, AD_D = (f"12029900000000000{n}" for n in range(1, 5))
NAMES = {AD_A: "Cumulative video", AD_B: "Cumulative static", AD_C: "Cumulative one-day", AD_D: "Copied in"}
START = date(2025, 5, 1)
# (ad, day offset): A runs every day but the 4th; B three scattered days; C one day.
DAYS = [(AD_A, d) for d in range(8) if d != 3] + [(AD_B, 1), (AD_B, 2), (AD_B, 6), (AD_C, 4)]


def day_values(ad: str, offset: int, bump: int = 0) -> dict[str, Any]:
    """A day's figures, distinct per (ad, day): spend in cents, counts consistent with each other."""
    k = int(ad[-1]) * 37 + offset * 11 + bump
    impressions = 1000 + 97 * k
    views = impressions // 3 if ad == AD_A else 0
    return {
        "spend": Decimal(1234 + 311 * k) / 100,
        "impressions": impressions,
        "link_clicks": 20 + k,
        "purchases": k % 4,
        "purchase_value": Decimal(2999 * (k % 4) + k) / 100,
        "video_3s_views": views,
        "video_thruplays": views // 4,
    }


def write_export(path: Path, days: Iterable[tuple[str, int]], bumps: dict[tuple[str, int], int]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL)
        out.writerow(HEADER)
        for ad, offset in days:
            v = day_values(ad, offset, bumps.get((ad, offset), 0))
            out.writerow([
                (START + timedelta(days=offset)).isoformat(), ad, NAMES[ad], "Always on", "Broad",
                f"{v['spend']:,.2f}", f"{v['impressions']:,}", v["impressions"] // 2, v["link_clicks"] + 5,
                v["link_clicks"], v["purchases"] + 1, v["purchases"], f"{v['purchase_value']:.2f}",
                v["video_3s_views"], v["video_thruplays"], v["video_3s_views"] // 2, v["video_3s_views"] // 3,
                v["video_thruplays"] // 2, v["video_thruplays"] // 3,
            ])  # fmt: skip
    return path


@dataclass(frozen=True)
class Tenant:
    organization_id: UUID
    brand_id: UUID
    caller: Caller


@pytest.fixture(scope="module")
async def tenant(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Tenant:
    """A brand of its own, filled by a CSV import (COPY into a temp table, then INSERT ... ON CONFLICT)."""
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name=ORG)
        await add_user(conn, email=EMAIL, organization_id=org_id, role="admin")
        caller = await find_caller(conn, email=EMAIL)
    export = write_export(tmp_path_factory.mktemp("cumulative") / "export.csv", DAYS, {})
    summary = await import_meta_csv(db, path=export, brand_name=BRAND, org_name=ORG)
    assert (summary.days_inserted, summary.days_updated) == (len(DAYS), 0)
    async with db.as_owner() as conn:
        cur = await conn.execute("select id from brands where name = %s", (BRAND,))
        row = await cur.fetchone()
    assert row is not None
    return Tenant(organization_id=org_id, brand_id=UUID(str(row["id"])), caller=caller)


async def daily_rows(db: Database, brand_id: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            f"select meta_ad_id, date, organization_id, {', '.join(FIGURES)} from meta_ads_performance"
            " where brand_id = %s order by meta_ad_id, date",
            (brand_id,),
        )
        return await cur.fetchall()


def expected_rollup(days: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Running totals per ad, from the daily rows alone (money in cents)."""
    rows, totals, ad = [], [0] * len(FIGURES), None
    for d in days:  # ordered by ad, then date
        if d["meta_ad_id"] != ad:
            ad, totals = d["meta_ad_id"], [0] * len(FIGURES)
        for i, f in enumerate(FIGURES):
            totals[i] += int(d[f] * 100) if f in ("spend", "purchase_value") else int(d[f])
        rows.append((d["meta_ad_id"], d["date"], d["organization_id"], *totals))
    return rows


def expected_sums(days: list[dict[str, Any]], since: date, until: date) -> dict[str, dict[str, Any]]:
    """Per ad with a day in [since, until]: each figure summed over those days."""
    sums: dict[str, dict[str, Any]] = {}
    for d in days:
        if since <= d["date"] <= until:
            ad = sums.setdefault(d["meta_ad_id"], dict.fromkeys(FIGURES, 0))
            for f in FIGURES:
                ad[f] += d[f]
    return sums


async def check(db: Database, t: Tenant) -> list[dict[str, Any]]:
    """The rollup and every window's per-ad sums agree with the daily rows; returns the rows."""
    days = await daily_rows(db, t.brand_id)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            f"select meta_ad_id, date, organization_id, {', '.join(ROLLUP)} from meta_ads_cumulative"
            " where brand_id = %s order by meta_ad_id, date",
            (t.brand_id,),
        )
        stored = [tuple(r.values()) for r in await cur.fetchall()]
    assert stored == expected_rollup(days)
    edges = sorted({d["date"] for d in days})
    edges = [edges[0] - timedelta(days=2), *edges, edges[-1] + timedelta(days=2)]
    windows = [(s, u) for s in edges for u in edges if s <= u] + [(e, e) for e in edges]
    async with db.as_user(t.caller) as conn:
        for since, until in windows:
            cur = await conn.execute(
                f"select * from ({per_ad_sums_sql()}) x order by meta_ad_id",
                {"brand_id": t.brand_id, "since": since, "until": until},
            )
            got = {r.pop("meta_ad_id"): r for r in await cur.fetchall()}
            assert got == expected_sums(days, since, until), (since, until)
    return days


async def owner_sql(db: Database, sql: str, *params: Any) -> int:
    async with db.as_owner() as conn:
        cur = await conn.execute(sql, params)
        return cur.rowcount


async def test_an_import_fills_the_rollup(db: Database, tenant: Tenant) -> None:
    days = await check(db, tenant)
    assert len(days) == len(DAYS)


async def test_reimporting_a_changed_day_updates_the_window_sums(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    since, until = START + timedelta(days=4), START + timedelta(days=6)
    before = expected_sums(await daily_rows(db, tenant.brand_id), since, until)
    # Day 5 of A restated (the days after it shift), and a day added in B's gap.
    export = write_export(tmp_path / "restated.csv", [*DAYS, (AD_B, 4)], {(AD_A, 5): 3})
    summary = await import_meta_csv(db, path=export, brand_name=BRAND, org_name=ORG)
    assert (summary.days_inserted, summary.days_updated) == (1, len(DAYS))
    days = await check(db, tenant)
    after = expected_sums(days, since, until)
    restated, old = day_values(AD_A, 5, 3), day_values(AD_A, 5)
    assert after[AD_A]["spend"] == before[AD_A]["spend"] + restated["spend"] - old["spend"]
    assert after[AD_B]["impressions"] == before[AD_B]["impressions"] + day_values(AD_B, 4)["impressions"]
    # The chat tools read the same sums.
    turn = await run_turn(
        db=db,
        caller=tenant.caller,
        message=f'/ad_performance brand:"{BRAND}" since:{since} until:{until} sort:spend min_spend:0 limit:10',
        today=date(2026, 1, 1),
    )
    result = turn.tool_calls[0].result
    assert result is not None
    assert {r["meta_ad_id"]: Decimal(str(r["spend"])) for r in result["rows"]} == {
        ad: sums["spend"] for ad, sums in after.items()
    }


async def test_deleting_days_updates_the_window_sums(db: Database, tenant: Tenant) -> None:
    assert await owner_sql(
        db,
        "delete from meta_ads_performance where meta_ad_id = %s and date = %s",
        AD_A,
        START + timedelta(days=2),
    )
    await check(db, tenant)
    # An ad's first day, and an ad's only day: it then has no delivery in any window.
    assert await owner_sql(
        db,
        "delete from meta_ads_performance where (meta_ad_id, date) in ((%s, %s), (%s, %s))",
        AD_B,
        START + timedelta(days=1),
        AD_C,
        START + timedelta(days=4),
    )
    days = await check(db, tenant)
    assert AD_C not in {d["meta_ad_id"] for d in days}


async def test_copy_into_the_daily_table_is_covered(db: Database, tenant: Tenant) -> None:
    async with db.as_owner() as conn:
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format)"
            " values (%s, %s, %s, %s, 'image')",
            (AD_D, tenant.brand_id, tenant.organization_id, NAMES[AD_D]),
        )
        async with (
            conn.cursor() as cur,
            cur.copy(
                f"copy meta_ads_performance (meta_ad_id, date, brand_id, organization_id, {', '.join(FIGURES)})"
                " from stdin"
            ) as copy,
        ):
            for offset in (0, 3, 4, 9):
                v = day_values(AD_D, offset)
                await copy.write_row(
                    (
                        AD_D,
                        START + timedelta(days=offset),
                        tenant.brand_id,
                        tenant.organization_id,
                        *(v[f] for f in FIGURES),
                    )
                )
    days = await check(db, tenant)
    assert sum(d["meta_ad_id"] == AD_D for d in days) == 4


async def test_a_tenant_upsert_updates_the_rollup_under_rls(db: Database, tenant: Tenant) -> None:
    # One statement: an existing day (the update half) and a day in a gap (the insert half).
    existing, gap, b, o = (
        START + timedelta(days=1),
        START + timedelta(days=3),
        tenant.brand_id,
        tenant.organization_id,
    )
    async with db.as_user(tenant.caller) as conn:
        await conn.execute(
            "insert into meta_ads_performance as p (meta_ad_id, date, brand_id, organization_id, spend, purchases)"
            " values (%s, %s, %s, %s, 77.01, 2), (%s, %s, %s, %s, 5.55, 1)"
            " on conflict (meta_ad_id, date) do update set spend = p.spend + excluded.spend,"
            " purchases = excluded.purchases",
            (AD_A, existing, b, o, AD_A, gap, b, o),
        )
    days = await check(db, tenant)
    assert (AD_A, START + timedelta(days=3)) in {(d["meta_ad_id"], d["date"]) for d in days}
    # A day moved to another date: both places are recomputed.
    async with db.as_user(tenant.caller) as conn:
        await conn.execute(
            "update meta_ads_performance set date = %s where meta_ad_id = %s and date = %s",
            (START + timedelta(days=12), AD_A, START),
        )
    await check(db, tenant)


async def test_a_change_to_no_counted_figure_rewrites_nothing(db: Database, tenant: Tenant) -> None:
    stamps = (
        "select meta_ad_id, date, xmin::text as x from meta_ads_cumulative where brand_id = %s order by 1, 2"
    )
    async with db.as_owner() as conn:
        before = await (await conn.execute(stamps, (tenant.brand_id,))).fetchall()
        await conn.execute(
            "update meta_ads_performance set updated_at = now(), reach = reach + 1 where brand_id = %s",
            (tenant.brand_id,),
        )
        after = await (await conn.execute(stamps, (tenant.brand_id,))).fetchall()
    assert after == before


async def test_concurrent_writers_of_one_ad_take_turns(db: Database, tenant: Tenant) -> None:
    """Two transactions add days to the same ad at once; the second waits for the first."""
    first_done, second_waits = asyncio.Event(), asyncio.Event()
    second_pid: list[int] = []

    async def write(offset: int, hold: bool) -> None:
        async with db.as_owner() as conn:
            if not hold:
                second_pid.append(
                    (await (await conn.execute("select pg_backend_pid() as pid")).fetchone())["pid"]
                )
            v = day_values(AD_A, offset)
            await conn.execute(
                f"insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id,"
                f" {', '.join(FIGURES)}) values (%s, %s, %s, %s, {', '.join(['%s'] * len(FIGURES))})",
                (
                    AD_A,
                    START + timedelta(days=offset),
                    tenant.brand_id,
                    tenant.organization_id,
                    *(v[f] for f in FIGURES),
                ),
            )
            if hold:
                first_done.set()
                await asyncio.wait_for(second_waits.wait(), 15)  # committed only once the other writer waits

    first = asyncio.create_task(write(20, hold=True))
    await first_done.wait()
    second = asyncio.create_task(write(21, hold=False))  # a later day: its totals must include day 20's
    for _ in range(300):  # 15 s at most; a transaction each time, as one sees one snapshot of the activity
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select wait_event_type from pg_stat_activity where pid = any(%s)", (second_pid,)
            )
            row = await cur.fetchone()
        if row is not None and row["wait_event_type"] == "Lock":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the second writer never waited for the first")
    second_waits.set()
    await first
    await second
    await check(db, tenant)


async def test_truncating_the_daily_table_empties_the_rollup(db: Database, tenant: Tenant) -> None:
    class Rollback(Exception):
        pass

    # The daily table alone, then together with the rollup (as a cascade from above would).
    for tables in ("meta_ads_performance", "meta_ads_performance, meta_ads_cumulative"):
        with pytest.raises(Rollback):
            async with db.as_owner() as conn:
                await conn.execute(f"truncate {tables}")
                cur = await conn.execute("select count(*) as n from meta_ads_cumulative")
                row = await cur.fetchone()
                assert row is not None and row["n"] == 0
                raise Rollback
    await check(db, tenant)


async def test_rls_hides_another_organizations_rollup(db: Database, tenant: Tenant, leo: Caller) -> None:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n, count(distinct organization_id) as orgs from meta_ads_cumulative"
        )
        everything = await cur.fetchone()
    assert everything is not None and everything["orgs"] > 1  # the demo's and this test's
    async with db.as_user(leo) as conn:
        cur = await conn.execute(
            "select count(*) as n from meta_ads_cumulative where organization_id = %s",
            (tenant.organization_id,),
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] == 0
    async with db.as_user(tenant.caller) as conn:
        cur = await conn.execute(
            "select count(*) as n, count(distinct organization_id) as orgs from meta_ads_cumulative"
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] > 0 and row["orgs"] == 1
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(leo) as conn:
            await conn.execute(
                "insert into meta_ads_cumulative (meta_ad_id, date, brand_id, organization_id, spend_cents,"
                " impressions, link_clicks, purchases, purchase_value_cents, video_3s_views, video_thruplays)"
                " values (%s, '2025-05-01', %s, %s, 1, 1, 1, 1, 1, 1, 1)",
                (AD_A, tenant.brand_id, tenant.organization_id),
            )


async def test_deleting_an_organization_takes_its_rollup_with_it(db: Database) -> None:
    """No foreign keys on the rollup: the cascade's deletes of daily rows fire the DELETE trigger."""
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name="Cumulative Gone Org")
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, 'Gone Brand') returning id", (org_id,)
        )
        row = await cur.fetchone()
        assert row is not None
        brand_id = row["id"]
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name) values ('120299900000000099', %s, %s, 'Gone')",
            (brand_id, org_id),
        )
        await conn.execute(
            "insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id, spend)"
            " select '120299900000000099', d::date, %s, %s, 1.5 from generate_series('2025-05-01'::date, '2025-05-09', '2 days') d",
            (brand_id, org_id),
        )
        count = "select count(*) as n from meta_ads_cumulative where organization_id = %s"
        row = await (await conn.execute(count, (org_id,))).fetchone()
        assert row is not None and row["n"] == 5
        await conn.execute("delete from organizations where id = %s", (org_id,))
        row = await (await conn.execute(count, (org_id,))).fetchone()
        assert row is not None and row["n"] == 0
