"""The fake Meta Graph API (fakes/meta_graph.py) against the real facebook-business SDK: no mocks.

What the Meta sync relies on is proven here once: the SDK's `Cursor` pages by `after`, rows come as
Meta's strings, an async report run is polled to "Job Completed", and each injected fault reaches
the caller as the exception the SDK (or `requests` under it) really raises.
"""

from __future__ import annotations

import json
import math
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.adobjects.user import User
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from fakes.meta_graph import INSIGHT_FIELDS, FakeGraph

REPO = Path(__file__).resolve().parent.parent
TOKEN = "EAAtest-token-0001"
ACT = "act_1017"
SINCE = date(2026, 3, 1)
DAYS = 14
UNTIL = SINCE + timedelta(days=DAYS - 1)
N_ADS = 12
ROW_FIELDS = [name for name in INSIGHT_FIELDS if name not in ("date_start", "date_stop")]
DAILY = {"level": "ad", "time_increment": 1}


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        graph.add_account(ACT, name="Acme Skincare", tokens={TOKEN})
        graph.generate(ACT, n_ads=N_ADS, since=SINCE, days=DAYS, seed=7)
        yield graph
        assert graph.internal_errors == []


def sdk(fake: FakeGraph, token: str = TOKEN) -> FacebookAdsApi:
    """The SDK pointed at the fake: GRAPH on this session only, never `FacebookAdsApi.init()`."""
    session = FacebookSession(access_token=token)
    session.GRAPH = fake.url
    return FacebookAdsApi(session, api_version="v26.0")


def span(since: date, until: date) -> dict[str, str]:
    return {"since": since.isoformat(), "until": until.isoformat()}


def purchases(row: dict[str, Any]) -> int:
    return sum(int(a["value"]) for a in row.get("actions", []) if a["action_type"] == "purchase")


def graph_error(call: Any) -> FacebookRequestError:
    with pytest.raises(FacebookRequestError) as caught:
        call()
    return caught.value


def test_the_session_graph_url_is_per_session(fake: FakeGraph) -> None:
    api = sdk(fake)
    assert FacebookSession.GRAPH == "https://graph.facebook.com"  # the class attribute is untouched
    account = AdAccount(ACT, api=api).api_get(
        fields=["id", "name", "account_status", "currency", "timezone_name"]
    )
    assert account.export_all_data() == {
        "id": ACT,
        "name": "Acme Skincare",
        "account_status": 1,
        "currency": "USD",
        "timezone_name": "America/New_York",
    }
    [request] = fake.requests
    assert (request.method, request.path, request.params["access_token"]) == ("GET", "/act_1017/", TOKEN)


def test_an_unknown_or_forbidden_account_is_error_100_subcode_33(fake: FakeGraph) -> None:
    fake.add_account("act_2002", name="Someone else's")
    for act_id in ("act_404", "act_2002"):
        error = graph_error(lambda act_id=act_id: AdAccount(act_id, api=sdk(fake)).api_get(fields=["name"]))
        assert (error.http_status(), error.api_error_code(), error.api_error_subcode()) == (400, 100, 33)
        assert error.api_error_type() == "GraphMethodException"
        assert error.api_error_message().startswith(
            f"Unsupported get request. Object with ID '{act_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation."
        )


def test_me_adaccounts_lists_what_the_token_may_read(fake: FakeGraph) -> None:
    fake.add_account("act_2002", name="Second brand", currency="EUR", tokens={TOKEN})
    fake.add_account("act_3003", name="Not shared")
    accounts = User(fbid="me", api=sdk(fake)).get_ad_accounts(
        fields=["id", "account_id", "name", "currency"], params={"limit": 1}
    )
    assert [a.export_all_data() for a in accounts] == [
        {"id": ACT, "account_id": "1017", "name": "Acme Skincare", "currency": "USD"},
        {"id": "act_2002", "account_id": "2002", "name": "Second brand", "currency": "EUR"},
    ]
    assert fake.calls("/me/adaccounts") == 2


def test_ads_page_by_the_after_cursor(fake: FakeGraph) -> None:
    cursor = AdAccount(ACT, api=sdk(fake)).get_ads(
        fields=["id", "name", "effective_status", "created_time", "campaign_id", "adset_id", "creative"],
        params={"limit": 5},
    )
    ads = [ad.export_all_data() for ad in cursor]
    assert [ad["id"] for ad in ads] == fake.ad_ids(ACT)
    assert len(set(fake.ad_ids(ACT))) == N_ADS and all(ad_id.isdigit() for ad_id in fake.ad_ids(ACT))
    pages = [r for r in fake.requests if r.path == "/act_1017/ads"]
    assert [r.params.get("limit") for r in pages] == ["5", "5", "5"]
    assert "after" not in pages[0].params and pages[1].params["after"] != pages[2].params["after"]
    first = ads[0]
    stored = fake.ad(first["id"])
    assert first == {
        "id": stored["id"],
        "name": stored["name"],
        "effective_status": stored["effective_status"],
        "created_time": stored["created_time"],
        "campaign_id": stored["campaign_id"],
        "adset_id": stored["adset_id"],
        "creative": {"id": stored["creative"]["id"]},  # a nested object without {fields}: its id alone
    }
    assert {ad["effective_status"] for ad in ads} <= {"ACTIVE", "PAUSED"}
    assert first["created_time"].endswith("+0000") and first["created_time"][10] == "T"


def test_paging_next_is_a_full_url_and_an_empty_page_has_no_paging(fake: FakeGraph) -> None:
    url = f"{fake.url}/v26.0/{ACT}/ads"
    first = requests.get(url, params={"access_token": TOKEN, "fields": "id", "limit": 5}, timeout=5).json()
    assert set(first["paging"]) == {"cursors", "next"} and set(first["paging"]["cursors"]) == {
        "before",
        "after",
    }
    second = requests.get(first["paging"]["next"], timeout=5).json()
    third = requests.get(second["paging"]["next"], timeout=5).json()
    assert [ad["id"] for ad in first["data"] + second["data"] + third["data"]] == fake.ad_ids(ACT)
    assert "next" not in third["paging"] and "after" in third["paging"]["cursors"]  # the last page
    before = {"since": "2025-01-01", "until": "2025-01-31"}
    empty = requests.get(
        f"{fake.url}/v26.0/{ACT}/insights",
        params={"access_token": TOKEN, "level": "ad", "time_increment": 1, "time_range": json.dumps(before)},
        timeout=5,
    )
    assert empty.json() == {"data": []}


def test_nested_fields_go_through_params_not_the_fields_list(fake: FakeGraph) -> None:
    account = AdAccount(ACT, api=sdk(fake))
    # The SDK checks each name in `fields` against the Ad schema and warns on `campaign{name}`.
    with pytest.warns(UserWarning, match=r"^ads does not allow field campaign\{name\}$"):
        account.get_ads(fields=["id", "campaign{name}"], pending=True)
    nested = "id,campaign{name},adset{name},creative{id,body,object_type,link_url,object_story_spec,asset_feed_spec}"
    ads = [ad.export_all_data() for ad in account.get_ads(params={"fields": nested, "limit": N_ADS})]
    assert fake.requests[-1].params["fields"] == nested
    for ad in ads:
        stored = fake.ad(ad["id"])
        assert ad["campaign"] == {"name": stored["campaign"]["name"], "id": stored["campaign_id"]}
        assert ad["adset"] == {"name": stored["adset"]["name"], "id": stored["adset_id"]}
        assert ad["creative"] == {
            k: v for k, v in stored["creative"].items() if k not in ("title", "thumbnail_url", "video_id")
        }


def test_creatives_carry_the_landing_url_in_every_place_meta_puts_it() -> None:
    with FakeGraph() as fake:
        fake.add_account("act_5", name="Many ads")
        fake.generate("act_5", n_ads=80, since=SINCE, days=3, seed=3)
        kinds: dict[str, int] = {}
        for ad_id in fake.ad_ids("act_5"):
            creative = fake.ad(ad_id)["creative"]
            link_data = creative.get("object_story_spec", {}).get("link_data", {})
            if "link_url" in creative:
                kind, url = "link_url", creative["link_url"]
            elif "child_attachments" in link_data:
                kind, url = "carousel", link_data["child_attachments"][1]["link"]
            elif link_data:
                kind, url = "link_data", link_data["link"]
            else:
                kind, url = "asset_feed", creative["asset_feed_spec"]["link_urls"][0]["website_url"]
            kinds[kind] = kinds.get(kind, 0) + 1
            assert url.startswith("https://acme.example/") and "utm_source=fb" in url
            assert creative["object_type"] == ("VIDEO" if "video_id" in creative else "SHARE")
    assert set(kinds) == {"link_url", "carousel", "link_data", "asset_feed"}
    assert kinds["link_url"] > 80 // 3


def test_daily_insights_over_several_pages_are_the_fakes_rows(fake: FakeGraph) -> None:
    cursor = AdAccount(ACT, api=sdk(fake)).get_insights(
        fields=ROW_FIELDS, params={**DAILY, "time_range": span(SINCE, UNTIL), "limit": 50}
    )
    rows = [row.export_all_data() for row in cursor]
    expected = list(fake.rows_between(ACT, SINCE, UNTIL))
    assert rows == expected
    assert 100 < len(rows) < N_ADS * DAYS  # days without delivery are not served
    assert fake.calls("/insights") == math.ceil(len(rows) / 50)
    assert [(r["date_start"], r["ad_id"]) for r in rows] == sorted(
        (r["date_start"], r["ad_id"]) for r in rows
    )
    # Totals computed independently, from the fake's own rows.
    spend = sum(
        float(fake.insight_row(ad_id, SINCE + timedelta(days=d))["spend"])
        for ad_id in fake.ad_ids(ACT)
        for d in range(DAYS)
    )
    assert round(sum(float(r["spend"]) for r in rows), 2) == round(spend, 2)
    assert sum(purchases(r) for r in rows) == sum(purchases(r) for r in expected) > 0
    row = rows[0]
    assert (
        isinstance(row["spend"], str) and isinstance(row["impressions"], str) and row["spend"].count(".") == 1
    )
    assert row["date_start"] == row["date_stop"] == SINCE.isoformat()


def test_rows_are_consistent_and_image_ads_have_no_video_figures() -> None:
    with FakeGraph() as fake:
        fake.add_account("act_9", name="Consistency")
        fake.generate("act_9", n_ads=150, since=SINCE, days=20, seed=11)
        rows = list(fake.rows_between("act_9", SINCE, SINCE + timedelta(days=19)))
        videos = {ad_id for ad_id in fake.ad_ids("act_9") if "video_id" in fake.ad(ad_id)["creative"]}
    assert 0.45 < len(videos) / 150 < 0.75  # video_share=0.6
    seen_video = seen_image = 0
    for row in rows:
        n = {a["action_type"]: int(a["value"]) for a in row.get("actions", [])}
        imps, reach, clicks, links = (
            int(row[k]) for k in ("impressions", "reach", "clicks", "inline_link_clicks")
        )
        assert imps > 0 and reach <= imps and links <= clicks <= imps
        assert n.get("link_click", 0) == links and n.get("purchase", 0) <= n.get("add_to_cart", 0)
        assert (
            n.get("purchase", 0)
            == n.get("omni_purchase", 0)
            == n.get("offsite_conversion.fb_pixel_purchase", 0)
        )
        if row["ad_id"] in videos:
            seen_video += 1
            video = {
                k: int(row[f"video_{k}_actions"][0]["value"]) if f"video_{k}_actions" in row else 0
                for k in (
                    "play",
                    "thruplay_watched",
                    "p25_watched",
                    "p50_watched",
                    "p75_watched",
                    "p100_watched",
                )
            }
            views = n.get("video_view", 0)
            assert video["play"] > views >= video["thruplay_watched"] >= video["p100_watched"]
            assert (
                video["p25_watched"] >= video["p50_watched"] >= video["p75_watched"] >= video["p100_watched"]
            )
        else:
            seen_image += 1
            assert "video_view" not in n and not [k for k in row if k.startswith("video_")]
    assert seen_video > 500 and seen_image > 300


def test_rows_are_a_pure_function_of_seed_ad_and_day() -> None:
    def first_row(seed: int) -> dict[str, Any]:
        with FakeGraph() as fake:
            fake.add_account("act_1", name="A")
            fake.generate("act_1", n_ads=5000, since=SINCE, days=200, seed=seed)
            row = fake.insight_row(fake.ad_ids("act_1")[4321], SINCE + timedelta(days=150))
            return {k: v for k, v in row.items() if not k.endswith("_id")}  # ids are unique per fake

    started = time.perf_counter()
    assert first_row(1) == first_row(1) != first_row(2)
    assert time.perf_counter() - started < 2  # a million rows are not built up front


def test_set_insight_and_bump_change_what_is_served(fake: FakeGraph) -> None:
    ad_id = fake.ad_ids(ACT)[3]
    fake.set_insight(ad_id, SINCE, spend=99.99, impressions=5000, purchases=4, purchase_value=321.5)
    last3 = UNTIL - timedelta(days=2)
    before = {(r["ad_id"], r["date_start"]): r for r in fake.rows_between(ACT, last3, UNTIL)}
    fake.bump(ACT, last3, UNTIL, 2)
    account = AdAccount(ACT, api=sdk(fake))
    [changed] = [
        row.export_all_data()
        for row in account.get_insights(fields=ROW_FIELDS, params={**DAILY, "time_range": span(SINCE, SINCE)})
        if row["ad_id"] == ad_id
    ]
    assert (changed["spend"], changed["impressions"], purchases(changed)) == ("99.99", "5000", 4)
    assert [v["value"] for v in changed["action_values"]] == ["321.50"] * 3
    assert changed == fake.insight_row(ad_id, SINCE)
    resynced = [
        row.export_all_data()
        for row in account.get_insights(
            fields=ROW_FIELDS, params={**DAILY, "time_range": span(last3, UNTIL), "limit": 500}
        )
    ]
    assert resynced == list(fake.rows_between(ACT, last3, UNTIL))
    assert {(r["ad_id"], r["date_start"]) for r in resynced} == set(before)
    for row in resynced:
        old = before[(row["ad_id"], row["date_start"])]
        assert int(row["impressions"]) == 2 * int(old["impressions"])
        assert row["spend"] == f"{round(float(old['spend']) * 2, 2):.2f}"


def test_an_async_report_run_is_polled_to_completion(fake: FakeGraph) -> None:
    account = AdAccount(ACT, api=sdk(fake))
    params = {**DAILY, "time_range": span(SINCE, UNTIL)}
    run = account.get_insights(fields=ROW_FIELDS, params=params, is_async=True)
    assert isinstance(run, AdReportRun) and run["id"] == run["report_run_id"]
    assert fake.requests[-1].method == "POST" and fake.requests[-1].path == "/act_1017/insights"
    polls = []
    for _ in range(3):
        run = run.api_get()
        polls.append((run["async_status"], run["async_percent_completion"]))
    # Meta reads 100% one poll before the job is complete: the status decides, not the percent.
    assert polls == [("Job Not Started", 0), ("Job Running", 100), ("Job Completed", 100)]
    assert (run["date_start"], run["date_stop"], run["account_id"]) == (
        SINCE.isoformat(),
        UNTIL.isoformat(),
        "1017",
    )
    rows = [row.export_all_data() for row in run.get_insights(params={"limit": 100})]
    assert rows == list(fake.rows_between(ACT, SINCE, UNTIL))
    assert fake.calls(f"/{run['id']}/insights") == math.ceil(len(rows) / 100)


def test_a_failed_report_run_cannot_be_read(fake: FakeGraph) -> None:
    fake.fail_async_reports = 1
    fake.async_polls_needed = 1
    account = AdAccount(ACT, api=sdk(fake))
    run = account.get_insights(params={**DAILY, "time_range": span(SINCE, UNTIL)}, is_async=True).api_get()
    assert (run["async_status"], run["async_percent_completion"]) == ("Job Failed", 0)
    assert graph_error(lambda: list(run.get_insights())).api_error_code() == 100
    again = account.get_insights(params={**DAILY, "time_range": span(SINCE, UNTIL)}, is_async=True).api_get()
    assert again["async_status"] == "Job Completed"  # only the next k runs fail


def test_a_throttle_mid_pagination_raises_and_the_cursor_resumes(fake: FakeGraph) -> None:
    fake.fail("/insights", code=17, subcode=2446079, after_calls=1, regain_minutes=3)
    cursor = AdAccount(ACT, api=sdk(fake)).get_insights(
        fields=["ad_id", "spend"], params={**DAILY, "time_range": span(SINCE, UNTIL), "limit": 40}
    )
    rows = [next(cursor) for _ in range(40)]  # the first page
    error = graph_error(lambda: next(cursor))
    assert (error.http_status(), error.api_error_code(), error.api_error_subcode()) == (400, 17, 2446079)
    assert error.api_error_message() == "(#17) User request limit reached" and error.api_transient_error()
    assert error.body()["error"]["type"] == "OAuthException" and error.body()["error"]["fbtrace_id"]
    usage = json.loads(error.http_headers()["x-business-use-case-usage"])
    assert usage == {
        "1017": [
            {
                "type": "ads_insights",
                "call_count": 100,
                "total_cputime": 1,
                "total_time": 1,
                "estimated_time_to_regain_access": 3,
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
    rows += list(cursor)  # the SDK kept its `after`: the failed page is asked for again
    expected = list(fake.rows_between(ACT, SINCE, UNTIL))
    assert [(r["ad_id"], r["date_start"], r["spend"]) for r in rows] == [
        (r["ad_id"], r["date_start"], r["spend"]) for r in expected
    ]
    second = [r for r in fake.requests if r.path.endswith("/insights")][1:3]
    assert [r.status for r in second] == [400, 200] and second[0].params["after"] == second[1].params["after"]


@pytest.mark.parametrize(
    ("code", "message", "header", "expected"),
    [
        (
            4,
            "(#4) Application request limit reached",
            "x-app-usage",
            {"call_count": 100, "total_cputime": 1, "total_time": 1},
        ),
        (
            613,
            "(#613) Calls to this api have exceeded the rate limit.",
            "x-ad-account-usage",
            {"acc_id_util_pct": 100, "reset_time_duration": 0, "ads_api_access_tier": "standard_access"},
        ),
    ],
)
def test_app_and_account_throttles_fill_their_own_usage_header(
    fake: FakeGraph, code: int, message: str, header: str, expected: dict[str, int]
) -> None:
    fake.fail("/ads", code=code)
    error = graph_error(lambda: list(AdAccount(ACT, api=sdk(fake)).get_ads(fields=["id"])))
    assert (error.api_error_code(), error.api_error_message(), error.api_transient_error()) == (
        code,
        message,
        True,
    )
    assert json.loads(error.http_headers()[header]) == expected


def test_a_business_use_case_throttle_says_when_access_comes_back(fake: FakeGraph) -> None:
    fake.fail(f"/{ACT}/insights", code=80004, subcode=2446079, regain_minutes=7)
    error = graph_error(
        lambda: AdAccount(ACT, api=sdk(fake)).get_insights(params={**DAILY, "time_range": span(SINCE, UNTIL)})
    )
    assert error.api_error_code() == 80004
    assert error.api_error_message().startswith(
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again."
    )
    [usage] = json.loads(error.http_headers()["x-business-use-case-usage"])["1017"]
    assert (usage["type"], usage["call_count"], usage["estimated_time_to_regain_access"]) == (
        "ads_insights",
        100,
        7,
    )


def test_usage_headers_come_with_every_answer(fake: FakeGraph) -> None:
    fake.usage = {"call_count": 5, "total_cputime": 3, "total_time": 4, "acc_util": 10, "regain_minutes": 0}
    cursor = AdAccount(ACT, api=sdk(fake)).get_ads(fields=["id"])
    headers = cursor.headers()
    assert json.loads(headers["x-app-usage"]) == {"call_count": 5, "total_cputime": 3, "total_time": 4}
    assert json.loads(headers["x-business-use-case-usage"]) == {
        "1017": [
            {
                "type": "ads_management",
                "call_count": 5,
                "total_cputime": 3,
                "total_time": 4,
                "estimated_time_to_regain_access": 0,
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
    assert json.loads(headers["x-ad-account-usage"])["acc_id_util_pct"] == 10
    assert headers["facebook-api-version"] == "v26.0"


def test_an_expired_or_unknown_token_is_190(fake: FakeGraph) -> None:
    fake.expire_token(TOKEN)
    expired = graph_error(lambda: AdAccount(ACT, api=sdk(fake)).api_get(fields=["name"]))
    assert (expired.http_status(), expired.api_error_code(), expired.api_error_subcode()) == (400, 190, 463)
    assert expired.api_error_message().startswith("Error validating access token: Session has expired on ")
    assert expired.http_headers()["WWW-Authenticate"].startswith('OAuth "Facebook Platform" "invalid_token"')
    unknown = graph_error(
        lambda: AdAccount(ACT, api=sdk(fake, token="EAAnot-a-token")).api_get(fields=["name"])
    )
    assert (unknown.api_error_code(), unknown.api_error_subcode(), unknown.api_transient_error()) == (
        190,
        None,
        False,
    )
    assert unknown.api_error_message() == "Invalid OAuth access token - Cannot parse access token"


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [(500, 1, "An unknown error occurred"), (503, 2, "Service temporarily unavailable")],
)
def test_a_5xx_burst_then_success(fake: FakeGraph, status: int, code: int, message: str) -> None:
    fake.fail("/ads", code=code, status=status, times=2)
    account = AdAccount(ACT, api=sdk(fake))
    for _ in range(2):
        error = graph_error(lambda: account.get_ads(fields=["id"]))
        assert (error.http_status(), error.api_error_code(), error.api_error_message()) == (
            status,
            code,
            message,
        )
        assert error.api_transient_error() is True
    assert len(list(account.get_ads(fields=["id"], params={"limit": 100}))) == N_ADS
    assert [r.status for r in fake.requests] == [status, status, 200]


def test_a_connection_dropped_mid_body_is_a_chunked_encoding_error(fake: FakeGraph) -> None:
    fake.drop("/insights", after_calls=1)
    cursor = AdAccount(ACT, api=sdk(fake)).get_insights(
        fields=["ad_id"], params={**DAILY, "time_range": span(SINCE, UNTIL), "limit": 30}
    )
    rows = [next(cursor) for _ in range(30)]
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match=r"IncompleteRead"):
        next(cursor)
    rows += list(cursor)  # a new connection, the same `after`
    assert len(rows) == len(list(fake.rows_between(ACT, SINCE, UNTIL)))


def test_a_connection_closed_before_the_answer_is_a_connection_error(fake: FakeGraph) -> None:
    fake.drop("/ads", when="before_status", times=1)
    account = AdAccount(ACT, api=sdk(fake))
    with pytest.raises(requests.exceptions.ConnectionError, match=r"RemoteDisconnected"):
        account.get_ads(fields=["id"])
    assert len(list(account.get_ads(fields=["id"], params={"limit": 50}))) == N_ADS


def test_oauth_code_and_long_lived_token_exchange(fake: FakeGraph) -> None:
    fake.app_id, fake.app_secret = "1234567890", "app-secret"
    redirect = "https://viraltracker.example/meta/callback"
    fake.add_oauth_code("code-ok", "EAAshort-0001", accounts=[ACT], redirect_uri=redirect)
    fake.add_oauth_code("code-old", "EAAshort-0002", expired=True)
    url = f"{fake.url}/v26.0/oauth/access_token"
    app = {"client_id": "1234567890", "client_secret": "app-secret", "redirect_uri": redirect}

    answer = requests.get(url, params={**app, "code": "code-ok"}, timeout=5)
    assert (answer.status_code, answer.json()) == (
        200,
        {"access_token": "EAAshort-0001", "token_type": "bearer", "expires_in": 3600},
    )
    assert fake.tokens["EAAshort-0001"] == {ACT}

    def error(params: dict[str, str]) -> tuple[int, int | None, str]:
        body = requests.get(url, params=params, timeout=5).json()["error"]
        return body["code"], body.get("error_subcode"), body["message"]

    assert error({**app, "code": "code-ok"}) == (100, 36009, "This authorization code has been used.")
    assert error({**app, "code": "code-old"}) == (100, 36007, "This authorization code has expired.")
    assert error({**app, "client_secret": "wrong", "code": "x"}) == (
        1,
        None,
        "Error validating client secret.",
    )

    exchange = {"grant_type": "fb_exchange_token", "client_id": "1234567890", "client_secret": "app-secret"}
    long = requests.get(url, params={**exchange, "fb_exchange_token": "EAAshort-0001"}, timeout=5).json()
    assert long["token_type"] == "bearer" and long["expires_in"] == 5_184_000
    assert long["access_token"] != "EAAshort-0001" and fake.tokens[long["access_token"]] == {ACT}
    account = AdAccount(ACT, api=sdk(fake, token=long["access_token"])).api_get(fields=["name"])
    assert account["name"] == "Acme Skincare"
    fake.expire_token("EAAshort-0001")  # an expired token cannot be exchanged
    assert error({**exchange, "fb_exchange_token": "EAAshort-0001"})[:2] == (190, 463)
    debug = f"{fake.url}/v26.0/debug_token"
    valid = requests.get(
        debug, params={"input_token": long["access_token"], "access_token": TOKEN}, timeout=5
    )
    assert valid.json()["data"]["is_valid"] is True and valid.json()["data"]["scopes"][0] == "ads_read"
    dead = requests.get(debug, params={"input_token": "EAAshort-0001", "access_token": TOKEN}, timeout=5)
    assert dead.json()["data"]["is_valid"] is False and dead.json()["data"]["error"]["subcode"] == 463


def test_fields_and_shapes_the_fake_does_not_serve_are_error_100(fake: FakeGraph) -> None:
    account = AdAccount(ACT, api=sdk(fake))
    bad_field = graph_error(lambda: account.get_ads(params={"fields": "id,nmae"}))
    assert (
        bad_field.api_error_message() == "(#100) Tried accessing nonexisting field (nmae) on node type (Ad)"
    )
    weekly = graph_error(
        lambda: account.get_insights(
            params={"level": "ad", "time_increment": 7, "time_range": span(SINCE, UNTIL)}
        )
    )
    assert weekly.api_error_code() == 100 and "time_increment=1" in weekly.api_error_message()
    fake.max_sync_rows = 100
    too_much = graph_error(lambda: account.get_insights(params={**DAILY, "time_range": span(SINCE, UNTIL)}))
    assert (too_much.api_error_code(), too_much.api_error_subcode()) == (100, 1487534)


def test_a_500_row_page_is_served_quickly() -> None:
    with FakeGraph() as fake:
        fake.add_account("act_1", name="Benchmark", tokens={"T"})
        fake.generate("act_1", n_ads=5000, since=SINCE, days=200)
        params = {
            "access_token": "T",
            "level": "ad",
            "time_increment": "1",
            "time_range": json.dumps(span(SINCE, SINCE + timedelta(days=199))),
            "fields": ",".join(ROW_FIELDS),
            "limit": "500",
        }
        timings = []
        with requests.Session() as session:
            first = session.get(f"{fake.url}/v26.0/act_1/insights", params=params, timeout=10).json()
            assert len(first["data"]) == 500 and "next" in first["paging"]
            deep = {**params, "after": first["paging"]["cursors"]["after"]}
            for page in range(5):
                started = time.perf_counter()
                body = session.get(f"{fake.url}/v26.0/act_1/insights", params=deep, timeout=10).json()
                timings.append(time.perf_counter() - started)
                deep["after"] = body["paging"]["cursors"]["after"]
                assert len(body["data"]) == 500, page
    # Well under 20 ms on a quiet machine; the bound leaves room for a busy CI box.
    assert statistics.median(timings) < 0.1, timings


def test_the_cli_serves_until_killed() -> None:
    command = [sys.executable, "-m", "fakes.meta_graph", "--port", "0", "--accounts", "act_77:40:10"]
    with subprocess.Popen(
        [*command, "--token", "T"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 15)
            assert ready, "the fake did not start within 15 s"
            line = process.stdout.readline().strip()
            assert line.startswith("ready http://127.0.0.1:")
            yesterday = date.today() - timedelta(days=1)
            answer = requests.get(
                f"{line.removeprefix('ready ')}/v26.0/act_77/insights",
                params={
                    "access_token": "T",
                    "level": "ad",
                    "time_increment": "1",
                    "time_range": json.dumps(span(yesterday, yesterday)),
                    "fields": "ad_id,spend",
                    "limit": "500",
                },
                timeout=10,
            )
            assert answer.status_code == 200
            rows = answer.json()["data"]
            assert 0 < len(rows) <= 40 and {r["date_start"] for r in rows} == {yesterday.isoformat()}
        finally:
            process.kill()
            process.wait(timeout=10)
