"""A customer's first hour, with no demo and no SQL: everything is done with the CLI and chat, as a new
customer would. A Meta brand: organization, admin, brand and products from the CLI; its ad account (the
local fake Graph API) linked and synced; a real `viraltracker worker` downloads the creatives and
classifies the ads the sync queued; then /top_hooks, /congruence_summary, /deep_analysis, /briefing and
/recommend_templates methodology:performance answer from the synced ads, their figures checked against
the fake's own rows. A CSV brand: an Ads Manager export with copy columns imported, classified by the
worker, and answered for the same way. The database is read only to check what was done."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.runner import TurnResult, run_turn
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from tests.ad_helpers import offline_home
from tests.cli_helpers import CLI, run_cli

TOKEN = "EAAB-first-hour-" + uuid.uuid4().hex
DAYS = 14
N_ADS = 16
FIXTURES = Path(__file__).parent / "fixtures"
PURCHASE = "omni_purchase"
PITCH = "hydrates dry skin overnight; dermatologists love it; free shipping today."
GLOW = f"Glow Serum: {PITCH}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The chat's settings (storage for the ads it makes) in this test's home, with no model keys."""
    with offline_home(tmp_path, monkeypatch):
        yield tmp_path


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return " ".join(done.stdout.split())


@contextmanager
def worker(database_url: str, home: Path, log: Path, **env: str) -> Iterator[None]:
    """`viraltracker worker`, as an operator starts it (no model keys), stopped with SIGTERM on the way out."""
    full = {**os.environ, "DATABASE_URL": database_url, "VIRALTRACKER_HOME": str(home), **env}
    for key in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "VIRALTRACKER_MODEL"):
        full.pop(key, None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [CLI, "worker", "--concurrency", "2"], env=full, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def settled(
    db: Database, organization: str, *, wanted: set[str], within: float = 120.0
) -> list[dict[str, Any]]:
    """The organization's job runs once those of each `wanted` type have succeeded and none waits."""
    deadline = time.monotonic() + within
    while True:
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select r.job_type, r.status, r.error from job_runs r join organizations o on o.id = r.organization_id"
                " where o.name = %s order by r.created_at",
                (organization,),
            )
            runs = list(await cur.fetchall())
        done = {r["job_type"] for r in runs if r["status"] == "succeeded"}
        if wanted <= done and all(r["status"] in ("succeeded", "failed", "dead") for r in runs):
            return runs
        assert time.monotonic() < deadline, f"the worker did not finish in {within} s: {runs}"
        await _sleep(0.25)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def the_person(db: Database, email: str) -> Caller:
    async with db.as_owner() as conn:
        cur = await conn.execute("select id from auth.users where email = %s", (email,))
        row = await cur.fetchone()
    assert row is not None
    return Caller(row["id"], email)


def one_call(turn: TurnResult) -> dict[str, Any]:
    [call] = turn.tool_calls
    assert call.error is None, call.error
    assert isinstance(call.result, dict), call.result
    return call.result


def fake_sums(fake: FakeGraph, account: str, since: date, until: date) -> dict[str, dict[str, Decimal]]:
    """Per ad, the window's figures summed from the fake's own rows, read as Meta serves them."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in fake.rows_between(account, since, until):
        ad = sums[row["ad_id"]]
        ad["spend"] += Decimal(row["spend"])
        ad["impressions"] += Decimal(row["impressions"])
        ad["link_clicks"] += Decimal(row.get("inline_link_clicks") or 0)
        actions = {a["action_type"]: Decimal(a["value"]) for a in row.get("actions") or []}
        ad["purchases"] += actions.get(PURCHASE, Decimal(0))
        ad["video_3s"] += actions.get("video_view", Decimal(0))
        values = {a["action_type"]: Decimal(a["value"]) for a in row.get("action_values") or []}
        ad["purchase_value"] += values.get(PURCHASE, Decimal(0))
    return sums


def ratio(num: Decimal, den: Decimal) -> float | None:
    return None if den == 0 else float(num / den)


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format="PNG")
    return out.getvalue()


async def test_a_meta_brand_from_nothing_to_insight_with_the_cli_and_chat_only(
    db: Database, database_url: str, home: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    org, brand, email = f"Northwind Naturals {tag}", f"Northwind {tag}", f"owner-{tag}@northwind.example"
    account = f"act_{int(tag, 16) % 10**9 + 10**9}"
    today = date.today()
    since, until = today - timedelta(days=DAYS), today - timedelta(days=1)
    with FakeGraph() as fake:
        fake.media_root = fake.url  # the creatives' files come from the fake too
        fake.add_account(account, name=f"{brand} US", tokens={TOKEN})
        fake.generate(account, n_ads=N_ADS, since=since, days=DAYS, seed=int(tag, 16) % 997)
        env = {
            "META_GRAPH_URL": fake.url, "META_SYSTEM_USER_TOKEN": TOKEN,
            "VIRALTRACKER_FETCH_PRIVATE_ADDRESSES": "1",
        }  # fmt: skip

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return run_cli(database_url, home, *args, env=env)

        # -- set up from the CLI: organization, its admin, the brand and its products
        ok(cli("org", "create", org))
        ok(cli("user", "add", email, "--org", org, "--role", "admin", "--password", "first-hour-" + tag))
        assert ok(cli("brand", "create", brand, "--org", org, "--website", "https://acme.example")) == (
            f"Created the brand '{brand}' in {org}."
        )
        for slug, name in (("glow-serum", "Glow Serum"), ("night-cream", "Night Cream")):
            ok(cli(
                "product", "add", name, "--brand", brand, "--price", "34",
                "--url", f"https://www.acme.example/products/{slug}/?utm_source=ig",
                "--description", f"{name}: {PITCH}",
            ))  # fmt: skip

        # -- link and sync: the daily schedule made, the next stages queued
        linked = ok(cli("meta", "link", "--brand", brand, "--account", account))
        assert "A daily sync is scheduled: every day at 06:00 UTC; change it with /schedules." in linked
        synced = ok(cli("sync", "meta", "--brand", brand))
        assert f"Queued: downloading {N_ADS} new creatives, classifying {N_ADS} new ads" in synced, synced

        # -- a worker takes it from there
        with worker(database_url, home, home / "worker.log", **env):
            runs = await settled(db, org, wanted={"asset_download", "ad_classification"})
        assert {(r["job_type"], r["status"]) for r in runs} == {
            ("asset_download", "succeeded"),
            ("ad_classification", "succeeded"),
        }, runs

        me = await the_person(db, email)

        async def ask(message: str) -> TurnResult:
            return await run_turn(db=db, caller=me, message=message, today=today)

        # -- the notifications of each stage
        noted = one_call(await ask("/notifications"))
        titles = " | ".join(f"{n['title']}: {n['message']}" for n in noted["notifications"])
        assert f"Classified {N_ADS} new ads for {brand}: " in titles, titles
        assert "Downloaded " in titles and f"new creatives for {brand}" in titles, titles

        window = f"since:{since} until:{until}"
        sums = fake_sums(fake, account, since, until)

        # -- /top_hooks: every video ad with delivery ranked by hook rate, figures from the fake's rows
        top = one_call(await ask(f'/top_hooks brand:"{brand}" {window} min_spend:0 limit:100'))
        videos = {
            a
            for a in fake.ad_ids(account)
            if fake.ad(a)["creative"].get("video_id") and sums[a]["impressions"]
        }
        assert {r["meta_ad_id"] for r in top["rows"]} == videos, top["summary"]
        for row in top["rows"]:
            ad = sums[row["meta_ad_id"]]
            assert row["spend"] == pytest.approx(float(ad["spend"]), abs=0.005)
            assert row["hook_rate"] == pytest.approx(ratio(ad["video_3s"], ad["impressions"]), rel=1e-6)
            assert fake.ad(row["meta_ad_id"])["creative"]["body"].startswith(row["hook_text"].rstrip(".?!"))
        rates = [r["hook_rate"] for r in top["rows"]]
        assert rates == sorted(rates, reverse=True)

        # -- /congruence_summary: every ad classified against its product, none left unclassified
        congruence = one_call(await ask(f'/congruence_summary brand:"{brand}" {window}'))
        delivered = {a for a in sums if sums[a]["impressions"]}
        assert (congruence["classified_ads"], congruence["unclassified_ads"]) == (len(delivered), 0)
        assert congruence["average_score"] is not None and congruence["dimensions"]

        # -- /deep_analysis of the biggest spender: its figures and its hook
        biggest = max(sums, key=lambda a: (sums[a]["spend"], a))
        deep = one_call(await ask(f'/deep_analysis brand:"{brand}" ad:{biggest} {window}'))
        ad = sums[biggest]
        assert deep["classified"] and deep["hooks"]
        assert deep["performance"]["spend"] == pytest.approx(float(ad["spend"]), abs=0.005)
        assert deep["performance"]["ctr"] == pytest.approx(
            ratio(ad["link_clicks"], ad["impressions"]), rel=1e-6
        )
        assert deep["performance"]["roas"] == pytest.approx(
            ratio(ad["purchase_value"], ad["spend"]), rel=1e-6
        )

        # -- /briefing: the week's spend, as Meta counts it
        briefing = one_call(await ask(f'/briefing brand:"{brand}" period:week'))["briefing"]
        current = (
            date.fromisoformat(briefing["current"]["since"]),
            date.fromisoformat(briefing["current"]["until"]),
        )
        week = sum((a["spend"] for a in fake_sums(fake, account, *current).values()), Decimal(0))
        assert briefing["spend"] == pytest.approx(float(week), abs=0.01)

        # -- ads made here meet their results: templates imported and approved, ads made, launched
        # under their suggested names, synced again, then ranked by performance
        folder = home / "templates"
        folder.mkdir()
        for n, colour in enumerate(((200, 30, int(tag[:2], 16)), (30, 200, int(tag[2:4], 16)))):
            (folder / f"first-hour-{tag}-{n}.png").write_bytes(png(colour))
        assert "Imported 2 template(s) into the pending queue" in ok(
            # Described for this product, so they score above the rest of a shared library for it.
            cli("templates", "import", str(folder), "--category", "ugc", "--description", GLOW)
        )
        ok(cli("templates", "reviewer", email))
        pending = one_call(await ask("/templates status:pending"))
        ours = [t["id"][:8] for t in pending["templates"] if t["name"].startswith(f"First hour {tag}")]
        assert len(ours) == 2, pending["summary"]
        # The product opts in to auto-recommendations: approving templates gets them scored for it.
        auto = await ask('/template_auto product:"Glow Serum" enabled:true threshold:0 confirm:true')
        assert not auto.refused, auto.text
        with worker(database_url, home, home / "worker-templates.log", **env):
            approved = await ask(f"/review_templates ids:{','.join(ours)} decision:approve confirm:true")
            assert approved.text.startswith("Approved 2 template(s)"), approved.text
            deadline = time.monotonic() + 60
            ask_recommended = f'/recommend_templates brand:"{brand}" product:"Glow Serum" filter:recommended'
            while True:
                picks = one_call(await ask(ask_recommended))
                if {str(r["template_id"])[:8] for r in picks["rows"]} >= set(ours):
                    break
                assert time.monotonic() < deadline, f"not recommended in 60 s: {picks['summary']}"
                await _sleep(0.25)
        made = one_call(await ask('/create_ads product:"Glow Serum" count:2 from:library confirm:true'))
        assert len(made["ads"]) == 2, made["summary"]
        assert {str(a["source_template_id"])[:8] for a in made["ads"]} == set(ours)
        live = sorted(sums, key=lambda a: (-sums[a]["spend"], a))[:2]
        for ad_id, generated in zip(live, made["ads"], strict=True):
            fake.relabel(ad_id, name=generated["ad_name"])  # launched as the answer told
        resynced = ok(cli("sync", "meta", "--brand", brand))
        assert "linked 2 live ads to ads made here" in resynced, resynced
        ranked = one_call(await ask(
            f'/recommend_templates brand:"{brand}" product:"Glow Serum" methodology:performance filter:all {window}'
        ))  # fmt: skip
        by_template: dict[str, list[str]] = defaultdict(list)
        for ad_id, generated in zip(live, made["ads"], strict=True):
            by_template[str(generated["source_template_id"])].append(ad_id)
        got = {str(r["template_id"]): r for r in ranked["rows"]}
        assert set(got) == set(by_template), ranked["summary"]
        for template, ads in by_template.items():
            spend = sum((sums[a]["spend"] for a in ads), Decimal(0))
            value = sum((sums[a]["purchase_value"] for a in ads), Decimal(0))
            assert got[template]["spend"] == pytest.approx(float(spend), abs=0.01)
            assert got[template]["roas"] == pytest.approx(ratio(value, spend), rel=1e-4)


CSV_HEADERS = [
    "Day", "Campaign name", "Ad set name", "Ad name", "Ad ID", "Amount spent (USD)", "Impressions", "Link clicks",
    "Purchases", "Purchases conversion value", "3-second video plays", "ThruPlays", "Body (ad settings)",
    "Title (ad settings)", "Link (ad settings)",
]  # fmt: skip
CSV_ADS = (  # name, copy, headline, link: two ads with no copy at all
    ("Serum UGC", "Tired of dull skin? Meet the serum that works overnight.", "Glow Serum",
     "https://www.glowco.example/products/serum?utm_source=facebook"),
    ("Derm Question", "Why do 9 out of 10 dermatologists recommend this cream?", "Night Cream",
     "https://glowco.example/products/night-cream/"),
    ("Founder Story", "I started this brand after 10 years of dry skin.", "Glow Serum",
     "https://glowco.example/products/serum"),
    ("Shipping Static", "", "Free shipping today only: your glow starts now.", ""),
    ("Lookbook 1", "", "", ""),
    ("Lookbook 2", "", "", ""),
)  # fmt: skip


def export(path: Path, ad_ids: list[str], first: date, days: int) -> dict[str, dict[str, Decimal]]:
    """An Ads Manager daily export with copy columns, and its figures per ad, summed as written."""
    import csv

    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_HEADERS)
        for d in range(days):
            for n, ((name, body, title, link), ad_id) in enumerate(zip(CSV_ADS, ad_ids, strict=True)):
                spend = Decimal(40 + 13 * n + 7 * d) + Decimal("0.25")
                impressions, clicks = 1000 + 97 * n + 31 * d, 20 + 3 * n + d
                purchases, value = (n + d) % 4, Decimal((n + d) % 4 * 38) + Decimal("0.50")
                views, thru = (300 + 11 * d, 90 + 5 * n) if n < 3 else (0, 0)
                writer.writerow([
                    (first + timedelta(days=d)).isoformat(), "Spring - Prospecting", "Broad 25-54", name, ad_id,
                    f"{spend:,}", impressions, clicks, purchases, value, views, thru, body, title, link,
                ])  # fmt: skip
                ad = sums[ad_id]
                for key, amount in (("spend", spend), ("impressions", impressions), ("link_clicks", clicks),
                                    ("purchases", purchases), ("purchase_value", value), ("video_3s", views)):  # fmt: skip
                    ad[key] += Decimal(amount)
    return sums


async def test_a_csv_brand_from_nothing_to_insight_with_the_cli_and_chat_only(
    db: Database, database_url: str, home: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    org, brand, email = f"Glow Co {tag}", f"Glow {tag}", f"owner-{tag}@glow.example"
    ad_ids = [f"13{int(tag, 16):011d}{n:03d}" for n in range(len(CSV_ADS))]
    first, days = date(2026, 10, 1), 10
    since, until = first, first + timedelta(days=days - 1)
    sums = export(home / "export.csv", ad_ids, first, days)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(database_url, home, *args)

    ok(cli("org", "create", org))
    ok(cli("user", "add", email, "--org", org, "--role", "admin", "--password", "first-hour-" + tag))
    imported = ok(cli("import", "meta-csv", str(home / "export.csv"), "--brand", brand, "--org", org))
    assert f'4 of 6 ads have copy to classify: viraltracker classify --brand "{brand}"' in imported, imported
    assert "Queued: classifying 4 new ads; you'll get a notification." in imported, imported
    added = ok(cli(
        "product", "add", "Glow Serum", "--brand", brand, "--org", org, "--url", "https://glowco.example/products/serum",
        "--description", "Glow Serum: a serum for dull, dry skin that works overnight; dermatologists recommend it.",
    ))  # fmt: skip
    assert added == f"Added 'Glow Serum' to {brand} with 1 product page. 2 of {brand}'s ads link to it."

    with worker(database_url, home, home / "worker.log"):
        runs = await settled(db, org, wanted={"ad_classification"})
    assert [(r["job_type"], r["status"]) for r in runs] == [("ad_classification", "succeeded")], runs

    me = await the_person(db, email)

    async def ask(message: str) -> TurnResult:
        return await run_turn(db=db, caller=me, message=message, today=until + timedelta(days=1))

    noted = one_call(await ask("/notifications"))
    [classified] = [n for n in noted["notifications"] if n["type"] == "classification_finished"]
    assert (
        classified["message"]
        == (
            f"Classified 4 new ads for {brand}: 4 with a hook, 2 with no copy to read (Lookbook 2, Lookbook 1)."  # biggest spender first
        )
    ), classified

    window = f"since:{since} until:{until}"
    top = one_call(await ask(f'/top_hooks brand:"{brand}" {window} min_spend:0 metric:ctr limit:100'))
    with_copy = dict(zip(ad_ids, CSV_ADS, strict=True))
    assert {r["meta_ad_id"] for r in top["rows"]} == {a for a in ad_ids if with_copy[a][1] or with_copy[a][2]}
    for row in top["rows"]:
        ad = sums[row["meta_ad_id"]]
        assert row["spend"] == pytest.approx(float(ad["spend"]), abs=0.005)
        assert row["ctr"] == pytest.approx(ratio(ad["link_clicks"], ad["impressions"]), rel=1e-6)
        name, body, title, _ = with_copy[row["meta_ad_id"]]
        assert (body or title).startswith(row["hook_text"].rstrip(".?!:")), (name, row["hook_text"])
    ctrs = [r["ctr"] for r in top["rows"]]
    assert ctrs == sorted(ctrs, reverse=True)

    congruence = one_call(await ask(f'/congruence_summary brand:"{brand}" {window}'))
    assert (congruence["classified_ads"], congruence["unclassified_ads"]) == (4, 2)
    assert congruence["average_score"] is not None

    deep = one_call(await ask(f'/deep_analysis brand:"{brand}" ad:{ad_ids[0]} {window}'))
    ad = sums[ad_ids[0]]
    assert deep["classified"] and deep["hooks"]
    assert deep["performance"]["spend"] == pytest.approx(float(ad["spend"]), abs=0.005)
    assert deep["performance"]["roas"] == pytest.approx(ratio(ad["purchase_value"], ad["spend"]), rel=1e-6)
    assert deep["performance"]["hook_rate"] == pytest.approx(
        ratio(ad["video_3s"], ad["impressions"]), rel=1e-6
    )

    briefing = one_call(await ask(f'/briefing brand:"{brand}" period:week'))["briefing"]
    current = (
        date.fromisoformat(briefing["current"]["since"]),
        date.fromisoformat(briefing["current"]["until"]),
    )
    assert current == (until - timedelta(days=6), until)
    week = sum(
        Decimal(40 + 13 * n + 7 * d) + Decimal("0.25")
        for d in range((current[0] - first).days, days)
        for n in range(len(CSV_ADS))
    )
    assert briefing["spend"] == pytest.approx(float(week), abs=0.01)
