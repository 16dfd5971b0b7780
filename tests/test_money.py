"""Money and time as the ad account keeps them: a EUR export, a JPY account on the Meta fake, a brand
whose timezone puts "yesterday" on another date than UTC's. Figures are summed here from the file and
the fake's rows, not by the code under test."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.mcp_server import call_tool
from agent.render import tables_for
from agent.runner import run_turn
from agent.slack_render import render_turn
from core.errors import InvalidArgument
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from services.analytics.totals import TotalsResult
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.csv_import import import_meta_csv
from services.meta.sync import MetaSync
from services.money import Money, from_minor, min_daily_budget, minor_units, shown_in, to_minor
from services.platform.accounts import add_user, create_organization
from services.presentable import hover_value
from settings import Settings
from tests.cli_helpers import run_cli

EXPORT = Path(__file__).parent / "fixtures" / "meta_ads_export.csv"


@pytest.fixture
async def org(db: Database) -> AsyncIterator[tuple[str, Caller]]:
    """A fresh organization and its one member."""
    tag = uuid.uuid4().hex[:8]
    name = f"Money Org {tag}"
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name=name)
        user_id = await add_user(conn, email=f"cfo-{tag}@money.example", organization_id=org_id)
    yield name, Caller(user_id, f"cfo-{tag}@money.example")
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org_id,))
        await conn.execute("delete from auth.users where id = %s", (user_id,))


def export_in(tmp_path: Path, *, header: str, ad_prefix: str) -> Path:
    """The fixture export with the spend header given and its ad IDs made unique to this test."""
    text = EXPORT.read_text(encoding="utf-8-sig").replace('"Amount spent (USD)"', f'"{header}"')
    path = tmp_path / f"{ad_prefix}.csv"
    path.write_text(text.replace("12021000000000", ad_prefix), encoding="utf-8")
    return path


def spend_in(path: Path) -> Decimal:
    with path.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["Ad ID"]]
    column = next(h for h in rows[0] if h.startswith("Amount spent"))
    return sum((Decimal(r[column].replace(",", "")) for r in rows), Decimal(0))


async def brand_money(db: Database, name: str) -> tuple[str | None, str | None]:
    async with db.as_owner() as conn:
        cur = await conn.execute("select currency, timezone from brands where name = %s", (name,))
        row = await cur.fetchone()
    assert row is not None
    return row["currency"], row["timezone"]


async def test_a_euro_export_is_shown_in_euros_and_a_dollar_one_is_refused(
    db: Database, org: tuple[str, Caller], tmp_path: Path, database_url: str
) -> None:
    org_name, caller = org
    brand = f"Euro Brand {uuid.uuid4().hex[:6]}"
    euros = export_in(tmp_path, header="Amount spent (EUR)", ad_prefix="12021555000000")
    summary = await import_meta_csv(db, path=euros, brand_name=brand, org_name=org_name)
    assert summary.currency == "EUR"
    assert await brand_money(db, brand) == ("EUR", None)

    ask = f'/summary brand:"{brand}" since:2025-03-01 until:2025-03-03'
    turn = await run_turn(db=db, caller=caller, message=ask, today=date(2025, 3, 10))
    spent = spend_in(euros)  # 1,949.58
    assert f"{brand} spent €{spent:,.0f} from 2025-03-01 to 2025-03-03" in turn.text
    [result] = turn.results
    assert isinstance(result, TotalsResult) and result.currency == "EUR"
    table = tables_for(result)[0]
    assert table.rows[0][:2] == ["Spend", f"€{spent:,.2f}"]
    slack = json.dumps(render_turn(turn).blocks, ensure_ascii=False)
    assert f"€{spent:,.2f}" in slack and "$" not in slack

    # A dollar export for the euro brand: refused, naming both currencies; nothing changes.
    dollars = export_in(tmp_path, header="Amount spent (USD)", ad_prefix="12021556000000")
    with pytest.raises(InvalidArgument) as refused:
        await import_meta_csv(db, path=dollars, brand_name=brand, org_name=org_name)
    assert refused.value.message == (
        f"This export is in USD, but {brand}'s figures are in EUR: amounts in two currencies can't be added"
        " up, so nothing was imported. Use a brand of its own for it, or load dated USD to EUR rates with:"
        " viraltracker rates load FILE.csv --org ORGANIZATION"
    )
    again = await run_turn(db=db, caller=caller, message=ask, today=date(2025, 3, 10))
    assert f"spent €{spent:,.0f} " in again.text

    # The organization reads numbers the German way.
    done = run_cli(database_url, tmp_path, "org", "locale", org_name, "de_DE")
    assert done.returncode == 0, done.stderr
    german = await run_turn(db=db, caller=caller, message=ask, today=date(2025, 3, 10))
    assert f"{brand} spent 1.950\xa0€ from" in german.text

    # No currency in the header: --currency says it; a contradicting one is refused.
    bare = export_in(tmp_path, header="Amount spent", ad_prefix="12021557000000")
    with pytest.raises(
        InvalidArgument, match=r"^'EURO' is not a currency code \(ISO 4217, like EUR, USD or JPY\)\.$"
    ):
        await import_meta_csv(db, path=bare, brand_name=brand, org_name=org_name, currency="EURO")
    with pytest.raises(InvalidArgument) as contradicted:
        await import_meta_csv(db, path=euros, brand_name=brand, org_name=org_name, currency="JPY")
    assert contradicted.value.message == (
        "The export's header says its amounts are in EUR, not JPY; nothing was imported."
    )
    yen_brand = f"Yen Brand {uuid.uuid4().hex[:6]}"
    yen = await import_meta_csv(db, path=bare, brand_name=yen_brand, org_name=org_name, currency="jpy")
    assert yen.currency == "JPY" and await brand_money(db, yen_brand) == ("JPY", None)


# -- a JPY account on the Meta fake -----------------------------------------------------------------

TOKEN = "EAAB-money-token-" + uuid.uuid4().hex
SYNC_DAY = date(2026, 11, 20)


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        yield graph


def client_for(fake: FakeGraph) -> Any:
    def make(token: SecretStr) -> MetaClient:
        return MetaClient(
            token=token, graph_url=fake.url, limits=Limits(backoff_base=0.001, backoff_cap=0.002),
            sleep=lambda _seconds: None, page_size=100,
        )  # fmt: skip

    return make


def fake_spend(fake: FakeGraph, account: str, since: date, until: date) -> Decimal:
    return sum((Decimal(r["spend"]) for r in fake.rows_between(account, since, until)), Decimal(0))


async def test_a_yen_account_is_stored_shown_without_minor_units_and_kept_apart_from_dollars(
    db: Database, org: tuple[str, Caller], fake: FakeGraph, tmp_path: Path, database_url: str
) -> None:
    org_name, caller = org
    tag = f"{uuid.uuid4().int % 10**8:08d}"
    brand, yen_account, dollar_account = f"Tokyo Tea {tag}", f"act_{tag}1", f"act_{tag}2"
    async with db.as_owner() as conn:
        await conn.execute(
            "insert into brands (organization_id, name) select id, %s from organizations where name = %s",
            (brand, org_name),
        )
    fake.add_account(
        yen_account, name="Tokyo Tea JP", currency="JPY", timezone_name="Asia/Tokyo", tokens={TOKEN}
    )
    fake.add_account(dollar_account, name="Tokyo Tea US", tokens={TOKEN})  # the fake's default: USD
    since = SYNC_DAY - timedelta(days=6)
    for account in (yen_account, dollar_account):
        fake.generate(account, n_ads=3, since=since, days=7, seed=7)
    settings = Settings(  # type: ignore[call-arg]
        META_SYSTEM_USER_TOKEN=TOKEN, META_GRAPH_URL=fake.url, VIRALTRACKER_HOME=tmp_path
    )

    async def link(account: str) -> Any:
        return await link_account(
            db, caller, brand_name=brand, account=account, settings=settings, client_factory=client_for(fake)
        )

    linked = await link(yen_account)
    assert linked.summary.startswith(f"Linked {yen_account} (Tokyo Tea JP, JPY) to {brand}.")
    assert await brand_money(db, brand) == ("JPY", "Asia/Tokyo")
    await MetaSync(db, caller, settings=settings, client_factory=client_for(fake)).run(
        brand, today=SYNC_DAY, days=7
    )
    yen = fake_spend(fake, yen_account, since, SYNC_DAY)
    assert yen == yen.to_integral_value() > 0  # Meta reports yen in whole yen

    ask = f'/summary brand:"{brand}" since:{since} until:{SYNC_DAY}'
    turn = await run_turn(db=db, caller=caller, message=ask, today=SYNC_DAY + timedelta(days=1))
    assert f"{brand} spent ¥{yen:,.0f} from {since} to {SYNC_DAY}" in turn.text
    assert tables_for(turn.results[0])[0].rows[0][:2] == ["Spend", f"¥{yen:,.0f}"]  # no minor units
    mcp = await call_tool(
        db=db, caller=caller, name="summary", arguments={"brand": brand, "since": str(since), "until": str(SYNC_DAY)},
        today=SYNC_DAY + timedelta(days=1),
    )  # fmt: skip
    assert mcp.structuredContent is not None and mcp.structuredContent["currency"] == "JPY"
    assert f"spent ¥{yen:,.0f} from" in mcp.content[0].text  # type: ignore[union-attr]
    with shown_in(Money("JPY")):
        assert hover_value("money", "y") == "¥%{y:,.0f}"  # a chart's hover text, as the table reads

    # A dollar account for the yen brand: refused, naming both; linked once the organization keeps rates.
    with pytest.raises(InvalidArgument) as refused:
        await link(dollar_account)
    assert refused.value.message == (
        f"Ad account {dollar_account} is in USD, but {brand}'s figures are in JPY: amounts in two currencies"
        " can't be added up, so it was not linked. Use a brand of its own for it, or load dated USD to JPY"
        " rates with: viraltracker rates load FILE.csv --org ORGANIZATION"
    )
    rates = tmp_path / "rates.csv"
    later = since + timedelta(days=2)
    rates.write_text(f"day,from,to,rate\n{later},USD,JPY,155\n", encoding="utf-8")
    done = run_cli(database_url, tmp_path, "rates", "load", str(rates), "--org", org_name)
    assert done.returncode == 0, done.stderr
    assert f"Loaded 1 rate(s) for {org_name} (USD to JPY), {later} to {later}." in done.stdout
    await link(dollar_account)
    await MetaSync(db, caller, settings=settings, client_factory=client_for(fake)).run(
        brand, today=SYNC_DAY, days=7
    )
    # Days before the first rate: the totals are not computed rather than mixed.
    unrated = await run_turn(db=db, caller=caller, message=ask, today=SYNC_DAY + timedelta(days=1))
    assert unrated.text == (
        f"{brand} has ad accounts in USD and JPY, and there is no USD to JPY rate on or before {since}, so its"
        " totals are not computed. Load rates with: viraltracker rates load FILE.csv --org ORGANIZATION"
    )
    rates.write_text(f"day,from,to,rate\n{since},USD,JPY,150\n", encoding="utf-8")
    assert run_cli(database_url, tmp_path, "rates", "load", str(rates), "--org", org_name).returncode == 0
    dollars = fake.rows_between(dollar_account, since, SYNC_DAY)
    both = yen + sum(Decimal(r["spend"]) * (150 if r["date_start"] < str(later) else 155) for r in dollars)
    converted = await run_turn(db=db, caller=caller, message=ask, today=SYNC_DAY + timedelta(days=1))
    assert f"{brand} spent ¥{both:,.0f} from" in converted.text

    # Comparing with a brand in euros says so instead of subtracting.
    euro_brand = f"Euro Tea {tag}"
    await import_meta_csv(
        db, path=export_in(tmp_path, header="Amount spent (EUR)", ad_prefix=f"120{tag}000"),
        brand_name=euro_brand, org_name=org_name,
    )  # fmt: skip
    compared = await run_turn(
        db=db, caller=caller, message=f'/compare brand:"{brand}" vs_brand:"{euro_brand}" days:7',
        today=SYNC_DAY + timedelta(days=1),
    )  # fmt: skip
    assert compared.text == (
        f"{brand} reports in JPY and {euro_brand} in EUR: their figures can't be subtracted one from the"
        " other. Ask for each brand's /summary instead."
    )


def test_minor_units_and_minimum_daily_budgets_per_currency() -> None:
    assert (minor_units("USD"), minor_units("EUR"), minor_units("JPY")) == (2, 2, 0)
    assert to_minor(Decimal("25.50"), "USD") == 2550 and to_minor(Decimal("2500"), "JPY") == 2500
    assert from_minor(2550, "EUR") == Decimal("25.50") and from_minor(2500, "JPY") == Decimal(2500)
    assert min_daily_budget("USD") == Decimal("1.00") and min_daily_budget("JPY") == Decimal(100)
    with pytest.raises(
        InvalidArgument, match=r"^No minimum daily budget is known for XAF; set the budget in Ads Manager\.$"
    ):
        min_daily_budget("XAF")


# -- the brand's days ---------------------------------------------------------------------------------


async def test_yesterday_is_the_brands_yesterday_in_its_timezone(
    db: Database, org: tuple[str, Caller]
) -> None:
    """At 20:00 UTC on Dec 5 it is already Dec 6 in Tokyo: the Tokyo brand's yesterday is Dec 5."""
    org_name, caller = org
    tag = uuid.uuid4().hex[:6]
    brand = f"Kyoto Matcha {tag}"
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name, currency, timezone)"
            " select id, %s, 'JPY', 'Asia/Tokyo' from organizations where name = %s returning id, organization_id",
            (brand, org_name),
        )
        row = await cur.fetchone()
        assert row is not None
        ad = f"9{int(tag, 16)}"
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name) values (%s, %s, %s, 'Matcha')",
            (ad, row["id"], row["organization_id"]),
        )
        for day, spend in ((date(2026, 12, 4), 4000), (date(2026, 12, 5), 5000)):
            await conn.execute(
                "insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id, spend,"
                " impressions) values (%s, %s, %s, %s, %s, 1000)",
                (ad, day, row["id"], row["organization_id"], spend),
            )
    now = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    turn = await run_turn(db=db, caller=caller, message=f"How much did {brand} spend yesterday?", now=now)
    assert f"{brand} spent ¥5,000 yesterday (2026-12-05, Asia/Tokyo time)" in turn.text


async def test_the_model_is_told_each_brands_own_today_when_its_timezone_is_not_the_persons(
    db: Database, org: tuple[str, Caller]
) -> None:
    """At 20:00 UTC on Dec 5 a model asked about a Tokyo brand's "yesterday" must know Tokyo is on Dec 6."""
    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    org_name, caller = org
    tag = uuid.uuid4().hex[:6]
    async with db.as_owner() as conn:
        await conn.execute(
            "insert into brands (organization_id, name, currency, timezone) select id, %s, 'JPY', 'Asia/Tokyo'"
            " from organizations where name = %s",
            (f"Kyoto Matcha {tag}", org_name),
        )
        await conn.execute(
            "insert into brands (organization_id, name, currency, timezone) select id, %s, 'USD', 'UTC'"
            " from organizations where name = %s",
            (f"London Tea {tag}", org_name),
        )
    seen: list[str] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        request = messages[-1]
        assert isinstance(request, ModelRequest)
        seen.append(request.instructions or "")
        return ModelResponse(parts=[TextPart("Noted.")])

    now = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    await run_turn(
        db=db,
        caller=caller,
        message="What did Kyoto Matcha spend yesterday?",
        model=FunctionModel(answer),
        now=now,
    )
    [context] = seen
    assert "Today is 2026-12-05 (Saturday) in the person's timezone, UTC." in context
    assert (
        f"A brand's dates are its own days, read in its timezone (Kyoto Matcha {tag}: Asia/Tokyo, where today is"
        " 2026-12-06)." in context
    )
    assert f"London Tea {tag}:" not in context  # its days are the person's
