"""Generated ads meet their results: an ad made by /create_ads carries a tracking id (in its suggested
name and its link's utm_content); a sync of the brand's Meta account (the local fake Graph API) links
the live ads that carry one back to it, within the brand only, once; /link_generated_ad and
`viraltracker ads link` link one launched by hand; then template performance ranks the templates by the
live ads' results, checked against the fake's own rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import SecretStr

from agent.runner import run_turn
from db.pool import Database
from fakes.meta_graph import FakeGraph
from services.creative.ad_creation import GeneratedAd, tracking_instruction
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.generated_links import link_generated_ads, suggested_name, tracked_link
from services.meta.sync import MetaSync
from services.models import BrandRef
from services.templates.recommendations import PRIOR_SPEND
from settings import Settings
from tests.ad_helpers import (
    PALETTES,
    Shop,
    drop_shop,
    drop_templates,
    generated_ads,
    new_shop,
    offline_home,
    scored_library,
)
from tests.cli_helpers import run_cli

TOKEN = "EAAB-system-user-token-" + uuid.uuid4().hex
TODAY = date.today()
DAYS = 14
PAGE = "https://shop.example/products/joint-chews?variant=2"


@dataclass
class Launch:
    db: Database
    shop: Shop
    product: str
    templates: list[UUID]
    fake: FakeGraph
    account: str
    settings: Settings

    def sync(self) -> MetaSync:
        return MetaSync(self.db, self.shop.admin, settings=self.settings, client_factory=self.client)

    def client(self, token: SecretStr) -> MetaClient:
        return MetaClient(
            token=token, graph_url=self.fake.url, limits=Limits(backoff_base=0.001, backoff_cap=0.002),
            sleep=lambda _seconds: None, page_size=40,
        )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with offline_home(tmp_path, monkeypatch):
        yield tmp_path


@pytest.fixture
async def launch(db: Database, home: Path) -> AsyncIterator[Launch]:
    """A shop whose product "Joint Chews" has a product page and three recommended library templates,
    and whose brand is linked to a Meta ad account of 8 ads (the fake), not synced yet."""
    with FakeGraph() as fake:
        settings = Settings(  # type: ignore[call-arg]
            VIRALTRACKER_HOME=home, VIRALTRACKER_MODEL=None, ANTHROPIC_API_KEY=None, GEMINI_API_KEY=None,
            GOOGLE_API_KEY=None, META_SYSTEM_USER_TOKEN=TOKEN, META_GRAPH_URL=fake.url,
        )  # fmt: skip
        shop, templates = await scored_library(db, settings, "links", PALETTES[:3], [95.0, 85.0, 75.0])
        async with db.as_owner() as conn:
            await conn.execute(
                "update products set product_url = %s where id = %s", (PAGE, shop.products["Joint Chews"])
            )
        account = f"act_{int(shop.tag, 16) % 10**9 + 10**9}"
        fake.add_account(account, name=f"{shop.brand} US", tokens={TOKEN})
        fake.generate(account, n_ads=8, since=TODAY - timedelta(days=DAYS), days=DAYS, seed=7)
        found = Launch(db, shop, f"Joint Chews {shop.tag}", templates, fake, account, settings)
        await link_account(
            db,
            shop.admin,
            brand_name=shop.brand,
            account=account,
            settings=settings,
            client_factory=found.client,
        )
        yield found
    await drop_shop(db, shop)
    await drop_templates(db, templates)


async def _make_ads(launch: Launch) -> list[dict[str, Any]]:
    """Three ads made in chat, as the answer shows them."""
    turn = await run_turn(
        db=launch.db, caller=launch.shop.member,
        message=f'/create_ads product:"{launch.product}" count:3 from:library confirm:true',
    )  # fmt: skip
    [call] = turn.tool_calls
    assert call.error is None, call.error
    ads: list[dict[str, Any]] = call.result["ads"]  # type: ignore[index]
    first = ads[0]
    assert turn.text.endswith(
        f" Name each ad as listed in Ads Manager (e.g. '{first['ad_name']}') or keep its utm_content in its"
        f" link (utm_content={first['tracking_id']} for the first) so results come back here"
        " (launched otherwise: /link_generated_ad)."
    ), turn.text
    return ads


def _expected_performance(launch: Launch, linked: dict[str, UUID]) -> dict[UUID, dict[str, float]]:
    """Per template, from the fake's own rows of the window: spend, value, ROAS and the smoothed score
    (the brand's ROAS over every ad of the account as the prior)."""
    since, until = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
    rows = list(launch.fake.rows_between(launch.account, since, until))

    def value(row: dict[str, Any]) -> Decimal:
        return sum(
            (
                Decimal(a["value"])
                for a in row.get("action_values") or []
                if a["action_type"] == "omni_purchase"
            ),
            Decimal("0"),
        )

    prior = float(sum(value(r) for r in rows)) / float(sum(Decimal(r["spend"]) for r in rows))
    out = {}
    for template in set(linked.values()):
        mine = [r for r in rows if linked.get(r["ad_id"]) == template]
        spend, worth = float(sum(Decimal(r["spend"]) for r in mine)), float(sum(value(r) for r in mine))
        out[template] = {
            "spend": spend, "roas": worth / spend, "prior": prior,
            "smoothed": (worth + PRIOR_SPEND * prior) / (spend + PRIOR_SPEND),
        }  # fmt: skip
    return out


async def test_the_sync_links_live_ads_that_carry_a_tracking_id_and_templates_get_their_results(
    db: Database, launch: Launch
) -> None:
    shop, fake = launch.shop, launch.fake
    ads = await _make_ads(launch)
    codes = [a["tracking_id"] for a in ads]
    assert all(c.startswith("vt-") and len(c) == 11 for c in codes)
    stored = await generated_ads(db, "product_id = %s", shop.products["Joint Chews"])
    assert [f"vt-{str(g['id'])[:8]}" for g in stored] == codes == [g["tracking_id"] for g in stored]
    assert ads[0]["ad_name"] == f"{launch.product} · Layout 1 {shop.tag} · {codes[0]}"
    assert ads[1]["link"] == f"{PAGE}&utm_content={codes[1]}"

    # Another organization's ad made here, whose id one of this brand's live ads happens to carry.
    other = await new_shop(db, "elsewhere", ["Treats"])
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "insert into generated_ads (brand_id, organization_id, source_template_id) values (%s, %s, %s)"
            " returning id, tracking_id",
            (other.brand_id, other.org, launch.templates[0]),
        )
        foreign = await cur.fetchone()
    assert foreign is not None
    try:
        live = fake.ad_ids(launch.account)
        fake.relabel(live[0], name=ads[0]["ad_name"])  # named as suggested
        fake.relabel(live[1], link=ads[1]["link"])  # the suggested link, under Meta's own ad name
        fake.relabel(live[2], name=f"Joint chews retarget {codes[0].upper()}")  # the first one again
        fake.relabel(live[3], name=f"Treats {foreign['tracking_id']}")  # another organization's id
        fake.relabel(live[4], link=f"{PAGE}&utm_content=vt-00000000")  # an id nothing here has
        # Ads 0 and 2 both carry the first ad's id: the older one is its result.
        first_result = min(live[0], live[2], key=lambda a: (fake.ad(a)["created_time"], a))

        result = await launch.sync().run(shop.brand)
        assert result.ok, result.summary
        assert result.summary.endswith(
            "; linked 2 live ads to ads made here. Queued: downloading 8 new creatives, classifying 8 new ads;"
            " you'll get a notification."
        ), result.summary
        linked = {
            g["tracking_id"]: g["meta_ad_id"] for g in await generated_ads(db, "brand_id = %s", shop.brand_id)
        }
        assert linked == {codes[0]: first_result, codes[1]: live[1], codes[2]: None}
        [still] = await generated_ads(db, "id = %s", foreign["id"])
        assert still["meta_ad_id"] is None  # never across organizations

        # A second sync links nothing new and changes nothing.
        again = await launch.sync().run(shop.brand)
        assert "linked" not in again.summary
        assert {
            g["tracking_id"]: g["meta_ad_id"] for g in await generated_ads(db, "brand_id = %s", shop.brand_id)
        } == linked
    finally:
        await drop_shop(db, other)

    # Template performance now has data: two templates, each with its live ad's results.
    expected = _expected_performance(
        launch, {first_result: launch.templates[0], live[1]: launch.templates[1]}
    )
    turn = await run_turn(
        db=db, caller=shop.member,
        message=f'/recommend_templates brand:"{shop.brand}" product:"{launch.product}" methodology:performance days:30',
    )  # fmt: skip
    [call] = turn.tool_calls
    assert call.error is None, call.error
    rows = call.result["rows"]  # type: ignore[index]
    assert [UUID(r["template_id"]) for r in rows] == sorted(expected, key=lambda t: -expected[t]["smoothed"])
    for row in rows:
        want = expected[UUID(row["template_id"])]
        assert row["ads"] == 1
        assert row["spend"] == pytest.approx(want["spend"], abs=0.005)
        assert row["roas"] == pytest.approx(want["roas"], rel=1e-6)
        assert row["score"] == pytest.approx(want["smoothed"], abs=1e-3)
    assert call.result["brand_roas"] == pytest.approx(expected[launch.templates[0]]["prior"], abs=1e-4)  # type: ignore[index]


async def test_an_ad_launched_by_hand_is_linked_in_chat_and_the_cli(
    db: Database, launch: Launch, database_url: str, tmp_path: Path
) -> None:
    shop, fake = launch.shop, launch.fake
    ads = await _make_ads(launch)
    code, other_code = ads[2]["tracking_id"], ads[0]["tracking_id"]
    live = fake.ad_ids(launch.account)
    fake.relabel(live[0], name=ads[0]["ad_name"])
    await launch.sync().run(shop.brand)
    name = fake.ad(live[5])["name"]
    # A Meta ad of another brand of the same organization.
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id",
            (shop.org, f"Sister {shop.tag}"),
        )
        sister = await cur.fetchone()
        assert sister is not None
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name) values (%s, %s, %s, 'Sister ad')",
            (f"77{int(shop.tag, 16)}", sister["id"], shop.org),
        )

    async def ask(message: str, who: Any = shop.admin) -> str:
        return (await run_turn(db=db, caller=who, message=message)).text

    preview = f"/link_generated_ad ad:{code} meta_ad:{live[5]}"
    assert await ask(preview, shop.member) == (
        f"Only admins of {shop.brand}'s organization can link ads made here to Meta ads; you are a member."
        " Ask an admin to do it."
    )
    assert await ask(preview) == (
        f"Link {code} ({launch.product}) to Meta ad {live[5]} ('{name}')? Nothing has changed yet: confirm to go ahead."
    )
    assert (await generated_ads(db, "tracking_id = %s", code))[0]["meta_ad_id"] is None
    stranger = await new_shop(db, "stranger", [])
    try:  # another organization's admin can't even find the ad made here
        assert await ask(preview + " confirm:true", stranger.admin) == f"No ad made here has the id '{code}'."
    finally:
        await drop_shop(db, stranger)
    assert await ask(f"/link_generated_ad ad:vt-ffffffff meta_ad:{live[5]}") == (
        "No ad made here has the id 'vt-ffffffff'."
    )
    assert await ask(f"/link_generated_ad ad:{code} meta_ad:ad-5") == (
        "A Meta ad id is digits (as in Ads Manager's Ad ID column), not 'ad-5'."
    )
    assert await ask(f"/link_generated_ad ad:{code} meta_ad:{live[0]}") == (
        f"Meta ad {live[0]} is already linked to {other_code}; a Meta ad is the result of one ad made here."
        " Nothing changed."
    )
    assert await ask(f"/link_generated_ad ad:{code} meta_ad:77{int(shop.tag, 16)}") == (
        f"Meta ad 77{int(shop.tag, 16)} is Sister {shop.tag}'s, and {code} was made for {shop.brand}: an ad"
        " links only to an ad of its own brand. Nothing changed."
    )
    assert await ask(f"/link_generated_ad ad:{code} meta_ad:999000111") == (
        f"{shop.brand} has no synced Meta ad 999000111: sync its account first (/sync_meta), or check the id"
        " in Ads Manager's Ad ID column."
    )
    assert await ask(preview + " confirm:true") == (
        f"Linked {code} ({launch.product}) to Meta ad {live[5]} ('{name}'). Its results now count for the"
        f" template 'Layout 3 {shop.tag}' (/recommend_templates methodology:performance)."
    )
    assert (await generated_ads(db, "tracking_id = %s", code))[0]["meta_ad_id"] == live[5]
    assert (
        await ask(preview + " confirm:true")
        == f"{code} is already linked to Meta ad {live[5]}; nothing changed."
    )
    assert await ask(f"/link_generated_ad ad:{code} meta_ad:{live[6]}") == (
        f"{code} is already linked to Meta ad {live[5]}; an ad made here links to one Meta ad. Nothing changed."
    )

    # The operator's CLI: the same rules (here: the second ad, by its id's start).
    second = ads[1]["tracking_id"].removeprefix("vt-")
    cli = run_cli(database_url, tmp_path, "ads", "link", second, live[0])
    assert cli.returncode == 2 and " ".join(cli.stderr.split()) == (
        f"Meta ad {live[0]} is already linked to {other_code}; a Meta ad is the result of one ad made here."
        " Nothing changed."
    )
    cli = run_cli(database_url, tmp_path, "ads", "link", second, live[6])
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith(f"Linked vt-{second} ({launch.product}) to Meta ad {live[6]}")
    assert (await generated_ads(db, "tracking_id = %s", f"vt-{second}"))[0]["meta_ad_id"] == live[6]


async def test_linking_rules_a_links_id_beats_its_names_a_shared_id_is_skipped_a_link_stays(
    db: Database,
) -> None:
    shop = await new_shop(db, "rules", [])
    try:
        # Two ads made here whose ids start alike (one tracking id, two ads), and two others.
        ids = [UUID(f"abcd{shop.tag[:4]}-0000-4000-8000-00000000000{n}") for n in range(2)]
        ids += [uuid.uuid4(), uuid.uuid4()]
        async with db.as_owner() as conn:
            for generated in ids:
                await conn.execute(
                    "insert into generated_ads (id, brand_id, organization_id) values (%s, %s, %s)",
                    (generated, shop.brand_id, shop.org),
                )
        shared, named, linked = f"vt-abcd{shop.tag[:4]}", f"vt-{str(ids[2])[:8]}", f"vt-{str(ids[3])[:8]}"
        ads = {  # Meta ad id: (name, link)
            f"91{shop.tag}": (f"Spring {shared}", None),  # the id names two ads made here: skipped
            f"92{shop.tag}": (f"Spring {named}", f"{PAGE}&utm_content={linked}"),  # the link's id wins
            f"93{shop.tag}": (f"Spring {named}", None),  # so the name's id goes to this one
        }
        async with db.as_owner() as conn:
            for ad_id, (name, link) in ads.items():
                await conn.execute(
                    "insert into meta_ads (meta_ad_id, brand_id, organization_id, name) values (%s, %s, %s, %s)",
                    (ad_id, shop.brand_id, shop.org, name),
                )
                if link:
                    await conn.execute(
                        "insert into meta_ad_destinations (meta_ad_id, organization_id, url, canonical_url)"
                        " values (%s, %s, %s, %s)",
                        (ad_id, shop.org, link, PAGE),
                    )
        brand = BrandRef(id=shop.brand_id, name=shop.brand, organization_id=shop.org)
        async with db.as_user(shop.admin) as conn:
            assert await link_generated_ads(conn, brand=brand) == 2
        made = {
            str(g["id"]): g["meta_ad_id"] for g in await generated_ads(db, "brand_id = %s", shop.brand_id)
        }
        assert made == {
            str(ids[0]): None,
            str(ids[1]): None,
            str(ids[2]): f"93{shop.tag}",
            str(ids[3]): f"92{shop.tag}",
        }
        # A link once made stays, whatever the ads are renamed to later.
        async with db.as_owner() as conn:
            await conn.execute(
                "update meta_ads set name = %s where meta_ad_id = %s", (f"x {linked}", f"93{shop.tag}")
            )
        async with db.as_user(shop.admin) as conn:
            assert await link_generated_ads(conn, brand=brand) == 0
        assert {
            str(g["id"]): g["meta_ad_id"] for g in await generated_ads(db, "brand_id = %s", shop.brand_id)
        } == made
    finally:
        await drop_shop(db, shop)


def test_one_ad_gets_its_own_name_and_utm_content_in_the_instruction() -> None:
    ad = GeneratedAd(
        id=UUID("7f3a9c2e-0000-4000-8000-000000000000"), position=0, source_template_id=None,
        reference_meta_ad_id="1", reference="Own ad", headline="Hi", image_path="x.png", status="preview",
        tracking_id="vt-7f3a9c2e", ad_name=suggested_name("Joint Chews", "Own ad", "vt-7f3a9c2e"),
        link=tracked_link("https://shop.example/chews?utm_content=old#top", "vt-7f3a9c2e"),
    )  # fmt: skip
    assert ad.link == "https://shop.example/chews?utm_content=vt-7f3a9c2e#top"
    assert tracking_instruction([ad]) == (
        "Name the ad 'Joint Chews · Own ad · vt-7f3a9c2e' in Ads Manager or keep utm_content=vt-7f3a9c2e in its"
        " link so results come back here (launched otherwise: /link_generated_ad)."
    )


async def test_a_tracking_id_added_to_a_live_ads_link_later_is_read_by_the_next_sync(
    db: Database, launch: Launch
) -> None:
    """A marketer adds utm_content to an ad that was already synced, its page otherwise the same: the
    next sync keeps the new link and links the ad."""
    shop, fake = launch.shop, launch.fake
    [ad, *_] = await _make_ads(launch)
    await launch.sync().run(shop.brand)
    async with db.as_owner() as conn:
        cur = await conn.execute(  # an ad with one landing page (a carousel's cards have several)
            "select meta_ad_id, min(url) as url from meta_ad_destinations where meta_ad_id = any(%s)"
            " group by meta_ad_id having count(*) = 1 order by meta_ad_id limit 1",
            (fake.ad_ids(launch.account),),
        )
        before = await cur.fetchone()
    assert before is not None and ad["tracking_id"] not in before["url"]
    live = before["meta_ad_id"]
    fake.relabel(live, link=tracked_link(before["url"], ad["tracking_id"]))
    again = await launch.sync().run(shop.brand)
    assert again.summary.endswith("; linked 1 live ad to ads made here"), again.summary
    assert (await generated_ads(db, "tracking_id = %s", ad["tracking_id"]))[0]["meta_ad_id"] == live
