"""Every figure the tools show, checked against an independent computation over the raw rows."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from agent.runner import TurnResult, run_turn
from db.pool import Caller, Database
from tests.oracle import last_days, metric, primary_hook, ratio, raw_ads, sums_by

BRAND = "Acme Pets"


async def ask(db: Database, caller: Caller, message: str) -> TurnResult:
    return await run_turn(db=db, caller=caller, message=message)


def only_result(turn: TurnResult) -> dict[str, Any]:
    assert len(turn.tool_calls) == 1, turn.text
    call = turn.tool_calls[0]
    assert call.error is None, call.error
    assert call.result is not None
    return call.result


@pytest.mark.parametrize("metric_name", ["hook_rate", "hold_rate", "roas", "cpa"])
async def test_top_hooks_match_independent_ranking(db: Database, maya: Caller, metric_name: str) -> None:
    turn = await ask(db, maya, f'/top_hooks brand:"{BRAND}" days:30 metric:{metric_name} limit:5')
    result = only_result(turn)
    since, until = last_days(30)
    ads = await raw_ads(db, BRAND, since, until)
    video_only = metric_name in ("hook_rate", "hold_rate")
    delivered = [a for a in ads.values() if a["days"] > 0 and (a["format"] == "video" or not video_only)]
    eligible = [a for a in delivered if a["spend"] >= 50 and primary_hook(a["cls"]) is not None]
    higher_better = metric_name != "cpa"
    ranked = sorted(
        (a for a in eligible if metric(a, metric_name) is not None),
        key=lambda a: ((-1 if higher_better else 1) * metric(a, metric_name), -a["spend"], a["meta_ad_id"]),  # type: ignore[operator]
    )
    assert len(result["rows"]) == 5
    assert [r["meta_ad_id"] for r in result["rows"]] == [a["meta_ad_id"] for a in ranked[:5]]
    for row, ad in zip(result["rows"], ranked, strict=False):
        assert row[metric_name] == pytest.approx(metric(ad, metric_name))
        assert row["spend"] == pytest.approx(ad["spend"], abs=0.01)
        assert row["hook_text"] == primary_hook(ad["cls"])["text"]  # type: ignore[index]
    assert result["gate"]["excluded_below_min_spend"] == sum(1 for a in delivered if a["spend"] < 50)
    assert result["gate"]["unclassified"] == sum(
        1 for a in delivered if a["spend"] >= 50 and a["cls"] is None
    )
    assert result["formula"] in turn.text
    assert f"{result['gate']['excluded_below_min_spend']} under $50 spend" in turn.text


async def test_ad_performance_bottom_by_cpa_and_format_baselines(db: Database, maya: Caller) -> None:
    result = only_result(
        await ask(db, maya, f'/ad_performance brand:"{BRAND}" days:14 sort:cpa order:bottom limit:3')
    )
    since, until = last_days(14)
    ads = [a for a in (await raw_ads(db, BRAND, since, until)).values() if a["days"] > 0]
    worst = sorted(
        (a for a in ads if a["spend"] >= 50 and metric(a, "cpa") is not None),
        key=lambda a: (-metric(a, "cpa"), -a["spend"], a["meta_ad_id"]),  # type: ignore[operator]
    )
    assert len(result["rows"]) == 3
    assert [r["meta_ad_id"] for r in result["rows"]] == [a["meta_ad_id"] for a in worst[:3]]
    for fmt in {a["format"] for a in ads}:
        cohort = sums_by([a for a in ads if a["format"] == fmt])
        baseline = next(b for b in result["baselines"] if b["format"] == fmt)
        assert baseline["roas"] == pytest.approx(ratio(cohort["purchase_value"], cohort["spend"]))
        assert baseline["ctr"] == pytest.approx(ratio(cohort["link_clicks"], cohort["impressions"]))
        assert baseline["spend"] == pytest.approx(cohort["spend"], abs=0.01)
    top = result["rows"][0]
    base_cpa = next(b for b in result["baselines"] if b["format"] == top["format"])["cpa"]
    assert top["vs_baseline"] == pytest.approx(top["cpa"] / base_cpa)
    assert result["total_spend"] == pytest.approx(sum(a["spend"] for a in ads), abs=0.01)


async def test_explicit_range_is_inclusive(db: Database, maya: Caller) -> None:
    until = date.today() - timedelta(days=3)
    since = until - timedelta(days=6)
    result = only_result(
        await ask(db, maya, f'/ad_performance brand:"{BRAND}" since:{since} until:{until} sort:spend limit:1')
    )
    ads = [a for a in (await raw_ads(db, BRAND, since, until)).values() if a["days"] > 0]
    assert result["window"] == {
        "since": str(since),
        "until": str(until),
        "days": 7,
        "label": f"{since} to {until}",
    }
    assert result["rows"][0]["spend"] == pytest.approx(max(a["spend"] for a in ads), abs=0.01)


async def test_hook_analysis_sums_counts_per_category(db: Database, maya: Caller) -> None:
    result = only_result(await ask(db, maya, f'/hook_analysis brand:"{BRAND}" days:90'))
    since, until = last_days(90)
    ads = [
        a
        for a in (await raw_ads(db, BRAND, since, until)).values()
        if a["days"] > 0 and a["spend"] >= 50 and primary_hook(a["cls"]) is not None
    ]
    categories = {primary_hook(a["cls"])["category"] for a in ads}  # type: ignore[index]
    assert len(categories) >= 4
    assert {r["category"] for r in result["rows"]} == categories
    for row in result["rows"]:
        members = [a for a in ads if primary_hook(a["cls"])["category"] == row["category"]]  # type: ignore[index]
        videos = sums_by([a for a in members if a["format"] == "video"])
        everything = sums_by(members)
        assert row["ads"] == len(members)
        assert row["hook_rate"] == pytest.approx(ratio(videos["video_3s_views"], videos["impressions"]))
        assert row["hold_rate"] == pytest.approx(ratio(videos["video_thruplays"], videos["video_3s_views"]))
        assert row["roas"] == pytest.approx(ratio(everything["purchase_value"], everything["spend"]))
        assert row["cpa"] == pytest.approx(ratio(everything["spend"], everything["purchases"]))


async def test_congruence_summary_counts_per_dimension(db: Database, maya: Caller) -> None:
    turn = await ask(db, maya, f'/congruence_summary brand:"{BRAND}"')
    result = only_result(turn)
    since, until = last_days(30)
    live = [a for a in (await raw_ads(db, BRAND, since, until)).values() if a["spend"] > 0]
    classified = [a for a in live if a["cls"] is not None]
    assert result["classified_ads"] == len(classified)
    assert result["unclassified_ads"] == len(live) - len(classified)
    for dim in result["dimensions"]:
        statuses = [
            next(
                (
                    c["status"]
                    for c in a["cls"]["congruence_components"]
                    if c["dimension"] == dim["dimension"]
                ),
                "missing",
            )
            for a in classified
        ]
        assert (dim["aligned"], dim["weak"], dim["missing"]) == (
            statuses.count("aligned"),
            statuses.count("weak"),
            statuses.count("missing"),
        )
    assert result["average_score"] == pytest.approx(
        sum(a["cls"]["congruence_score"] for a in classified) / len(classified)
    )
    assert f"{len(live) - len(classified)} ads with spend are not classified" in turn.text


async def test_congruence_check_and_deep_analysis_of_one_ad(db: Database, maya: Caller) -> None:
    since, until = last_days(30)
    ads = await raw_ads(db, BRAND, since, until)
    ad = max((a for a in ads.values() if a["cls"] is not None), key=lambda a: a["spend"])
    check = only_result(await ask(db, maya, f'/congruence_check brand:"{BRAND}" ad:{ad["meta_ad_id"]}'))
    assert [d["status"] for d in check["ads"][0]["dimensions"]] == [
        c["status"] for c in ad["cls"]["congruence_components"]
    ]
    deep = only_result(await ask(db, maya, f'/deep_analysis brand:"{BRAND}" ad:{ad["meta_ad_id"]}'))
    assert deep["performance"]["spend"] == pytest.approx(ad["spend"], abs=0.01)
    assert deep["performance"]["roas"] == pytest.approx(metric(ad, "roas"))
    assert deep["hooks"][0]["text"] == primary_hook(ad["cls"])["text"]  # type: ignore[index]
    assert len(deep["daily"]) == ad["days"]


async def test_unclassified_ad_is_said_not_dropped(db: Database, maya: Caller) -> None:
    since, until = last_days(90)
    ads = await raw_ads(db, BRAND, since, until)
    ad = next(a for a in ads.values() if a["cls"] is None)
    turn = await ask(db, maya, f'/deep_analysis brand:"{BRAND}" ad:{ad["meta_ad_id"]} days:90')
    assert "Not classified yet" in turn.text


async def test_brands_lists_only_the_callers_brands(db: Database, maya: Caller, leo: Caller) -> None:
    mine = only_result(await ask(db, maya, "/brands"))
    theirs = only_result(await ask(db, leo, "/brands"))
    assert [b["name"] for b in mine["brands"]] == ["Acme Pets", "Bloom Botanicals"]
    assert [b["name"] for b in theirs["brands"]] == ["Lumen Sleep", "Peak Fuel"]
    acme = mine["brands"][0]
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n from meta_ads a join brands b on b.id = a.brand_id where b.name = %s",
            (BRAND,),
        )
        row = await cur.fetchone()
    assert row is not None and acme["ads"] == row["n"]
