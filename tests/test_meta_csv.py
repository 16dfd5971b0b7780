"""Importing Ads Manager CSV exports, checked against an independent reading of the same file."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidArgument, NotFound
from db.pool import Database
from services.meta.csv_import import ImportSummary, import_meta_csv
from services.platform.accounts import create_organization

FIXTURES = Path(__file__).parent / "fixtures"
EXPORT = FIXTURES / "meta_ads_export.csv"
COPY_EXPORT = FIXTURES / "meta_ads_export_with_copy.csv"
ORG = "CSV Test Org"
BRAND = "CSV Test Brand"

# CSV header -> meta_ads_performance column, for the independent reading below.
COLUMNS = {
    "Amount spent (USD)": "spend",
    "Impressions": "impressions",
    "Reach": "reach",
    "Clicks (all)": "clicks",
    "Link clicks": "link_clicks",
    "Adds to cart": "add_to_carts",
    "Purchases": "purchases",
    "Purchases conversion value": "purchase_value",
    "3-second video plays": "video_3s_views",
    "ThruPlays": "video_thruplays",
    "Video plays at 25%": "video_p25",
    "Video plays at 50%": "video_p50",
    "Video plays at 75%": "video_p75",
    "Video plays at 100%": "video_p100",
}


def expected_totals(path: Path) -> dict[str, Decimal]:
    """Column totals over the ad rows, read with the csv module alone (no code from the service)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["Ad ID"]]
    return {
        col: sum((Decimal(r[h].replace(",", "") or 0) for r in rows), Decimal(0))
        for h, col in COLUMNS.items()
    }


async def fetch(db: Database, sql: str, *params: Any) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def totals(db: Database, brand: str) -> dict[str, Any]:
    sums = ", ".join(f"sum(p.{c}) as {c}" for c in COLUMNS.values())
    rows = await fetch(
        db,
        f"select count(*) as n, {sums} from meta_ads_performance p join brands b on b.id = p.brand_id"
        " where b.name = %s",
        brand,
    )
    return rows[0]


async def brand_exists(db: Database, name: str) -> bool:
    return bool(await fetch(db, "select 1 from brands where name = %s", name))


@pytest.fixture(scope="module")
async def org(db: Database) -> str:
    async with db.as_owner() as conn:
        await create_organization(conn, name=ORG)
    return ORG


@pytest.fixture(scope="module")
async def first_import(db: Database, org: str) -> ImportSummary:
    return await import_meta_csv(db, path=EXPORT, brand_name=BRAND, org_name=ORG)


async def test_first_import_creates_the_brand_and_stores_every_ad_day(
    db: Database, first_import: ImportSummary
) -> None:
    assert first_import == ImportSummary(
        brand=BRAND,
        organization=ORG,
        brand_created=True,
        rows_read=10,
        ads_created=3,
        ads_updated=0,
        days_inserted=9,
        days_updated=0,
        since=date(2025, 3, 1),
        until=date(2025, 3, 3),
        currency="USD",
    )
    stored = await totals(db, BRAND)
    assert stored.pop("n") == 9
    assert stored == expected_totals(EXPORT)
    assert stored["spend"] == Decimal("1949.58") and stored["impressions"] == 62345

    ads = await fetch(
        db,
        "select meta_ad_id, name, campaign, adset, format from meta_ads where meta_ad_id like '1202100000000001%%'",
    )
    assert {a["meta_ad_id"]: (a["name"], a["campaign"], a["adset"], a["format"]) for a in ads} == {
        "120210000000000101": (
            'UGC Hook: "I was skeptical", then…',
            "Spring Sale - Prospecting",
            "Broad 25-54",
            "video",
        ),
        "120210000000000102": (
            "Static, Before/After",
            "Spring Sale - Retargeting",
            "Site visitors 30d",
            "image",
        ),
        "120210000000000103": ("Founder story v2", "Evergreen", "Lookalike 1%", "video"),
    }
    # A row of blank cells is a zero day; "3.0" purchases is 3.
    day = await fetch(
        db,
        "select spend, impressions, link_clicks, purchases, purchase_value from meta_ads_performance"
        " where meta_ad_id = '120210000000000102' and date = '2025-03-03'",
    )
    assert day == [{"spend": 0, "impressions": 0, "link_clicks": 0, "purchases": 0, "purchase_value": 0}]
    day = await fetch(
        db,
        "select purchases from meta_ads_performance where meta_ad_id = '120210000000000103' and date = '2025-03-03'",
    )
    assert day == [{"purchases": 3}]


async def test_reimporting_the_same_file_changes_nothing(db: Database, first_import: ImportSummary) -> None:
    before = await totals(db, BRAND)
    stamps_sql = (
        "select a.meta_ad_id, a.updated_at, p.date, p.updated_at as day_updated_at from meta_ads a"
        " join meta_ads_performance p using (meta_ad_id) join brands b on b.id = a.brand_id"
        " where b.name = %s order by 1, 3"
    )
    stamps = await fetch(db, stamps_sql, BRAND)
    progress: list[tuple[int, int]] = []

    # No --org: the brand lives in exactly one organization (or this is the only one).
    again = await import_meta_csv(
        db, path=EXPORT, brand_name=BRAND, progress=lambda d, t: progress.append((d, t))
    )

    assert again.model_dump(include={"organization", "brand_created", "ads_created", "ads_updated"}) == {
        "organization": ORG,
        "brand_created": False,
        "ads_created": 0,
        "ads_updated": 3,
    }
    assert (again.days_inserted, again.days_updated) == (0, 9)
    assert progress[-1] == (9, 9)
    assert await totals(db, BRAND) == before
    assert len(stamps) == 9
    assert await fetch(db, stamps_sql, BRAND) == stamps  # not even a timestamp moved


async def test_an_ad_of_another_brand_is_refused_and_nothing_is_written(
    db: Database, first_import: ImportSummary, tmp_path: Path
) -> None:
    before = await totals(db, BRAND)
    with pytest.raises(InvalidArgument) as caught:
        await import_meta_csv(db, path=EXPORT, brand_name="CSV Other Brand", org_name=ORG)
    assert str(caught.value) == (
        "Ad ID 120210000000000101 (and 2 more) already belongs to another brand, so nothing was imported. "
        "Check that this export is for the brand you named."
    )
    assert not await brand_exists(db, "CSV Other Brand")
    assert await totals(db, BRAND) == before


async def test_a_non_export_is_refused_by_name_of_the_missing_columns(db: Database) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await import_meta_csv(
            db, path=FIXTURES / "not_an_ads_export.csv", brand_name="CSV Wrong Brand", org_name=ORG
        )
    assert str(caught.value) == (
        "This doesn't look like an Ads Manager daily ad-level export: missing columns: "
        "Day, Ad ID, Ad name, Amount spent, Impressions. Export with Breakdown → By time → Day."
    )
    assert not await brand_exists(db, "CSV Wrong Brand")


async def test_an_unknown_organization_is_named(db: Database) -> None:
    with pytest.raises(NotFound) as caught:
        await import_meta_csv(db, path=EXPORT, brand_name="CSV Stray Brand", org_name="CSV No Such Org")
    assert str(caught.value) == (
        "No organization named 'CSV No Such Org'. Create it with: viraltracker org create \"CSV No Such Org\""
    )


async def test_without_org_an_unplaceable_brand_asks_for_org(db: Database, org: str) -> None:
    async with db.as_owner() as conn:
        await create_organization(conn, name="CSV Test Org 2")
    with pytest.raises(
        InvalidArgument, match=r"^More than one organization could hold brand 'CSV Stray Brand' "
    ):
        await import_meta_csv(db, path=EXPORT, brand_name="CSV Stray Brand")
    assert not await brand_exists(db, "CSV Stray Brand")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "Ad name,Ad ID,Day,Amount spent (EUR),Impressions,Reporting ends\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "{path} is empty."),
        ("\ufeff\n\n", "{path} is empty."),
        (HEADER + ",,,10.00,100,\n", "{path} has no ad rows: every row lacks an Ad ID or a Day."),
        (
            HEADER + "A,1,2025-03-01,1.00,10,\nB,2,2025-03-01,2.00,12x,\n",
            "Row 3, column 'Impressions': '12x' is not a number.",
        ),
        (
            HEADER + 'A,1,2025-03-01,"12,5",10,\n',
            "Row 2, column 'Amount spent (EUR)': '12,5' is not a number.",
        ),
        (
            HEADER + "A,1,2025-03-01,1.00,10.5,\n",
            "Row 2, column 'Impressions': '10.5' is not a whole number.",
        ),
        (
            HEADER + "A,1,2025-02-30,1.00,10,\n",
            "Row 2, column 'Day': '2025-02-30' is not a date (expected YYYY-MM-DD or M/D/YYYY).",
        ),
        (
            HEADER + "A,1,2025-03-01,1,10,\nA,1,3/1/2025,1,10,\n",
            "Rows 2 and 3 both hold ad 1 on 2025-03-01. Export with only the Day breakdown"
            " (no age, placement or other breakdowns).",
        ),
        (
            "Ad name,Ad ID,Reporting starts,Reporting ends,Amount spent (USD),Impressions\nA,1,2025-03-01,2025-03-07,5,50\n",
            "Row 2 covers 2025-03-01 to 2025-03-07, not a single day. Export with Breakdown → By time → Day.",
        ),
        (
            HEADER + "A,1.20210E+17,2025-03-01,1,10,\n",
            "Row 2: Ad ID '1.20210E+17' was rounded by a spreadsheet app. "
            "Import the CSV exactly as Ads Manager exported it.",
        ),
        (
            HEADER + "A\x00B,1,2025-03-01,1.00,10,\n",
            "Row 2, column 'Ad name' contains a NUL byte (\\x00), which can't be stored. "
            "Remove it and import again; nothing was imported.",
        ),
        (
            HEADER + "A,1,2025-03-01,1.00,10,\nB,2,2025-03-01," + "9" * 40 + ",10,\n",
            "Row 3, column 'Amount spent (EUR)': '" + "9" * 40 + "' is more than a day can hold"
            " (at most 999,999,999,999.99).",
        ),
        (
            HEADER + "A,1,2025-03-01,1.00," + "1" * 19 + ",\n",
            "Row 2, column 'Impressions': '" + "1" * 19 + "' is more than a day can hold"
            " (at most 999,999,999,999,999).",
        ),
        (
            "Ad set name,Day,Amount spent (USD),Impressions\nX,2025-03-01,1,1\n",
            "This doesn't look like an Ads Manager daily ad-level export: missing columns: Ad ID, Ad name.",
        ),
    ],
)
async def test_bad_files_are_refused_with_a_message_that_says_where(
    db: Database, tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidArgument) as caught:
        await import_meta_csv(db, path=path, brand_name="CSV Bad File Brand", org_name=ORG)
    assert str(caught.value) == message.format(path=path)
    assert not await brand_exists(db, "CSV Bad File Brand")


async def test_a_missing_file_is_named(db: Database, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=re.escape(f"File not found: {tmp_path / 'nope.csv'}")):
        await import_meta_csv(db, path=tmp_path / "nope.csv", brand_name="CSV Bad File Brand", org_name=ORG)


async def test_header_variants_us_dates_and_currency(db: Database, org: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  AD NAME , ad id,Reporting starts,Reporting ends,Amount spent (EUR),Impressions,Link clicks\n"
        'Carousel A,120219900000000001,3/9/2025,3/9/2025,"1,000.50","2,000",\n',
    )
    summary = await import_meta_csv(db, path=path, brand_name="CSV Variant Brand", org_name=ORG)
    assert (summary.currency, summary.since, summary.days_inserted) == ("EUR", date(2025, 3, 9), 1)
    rows = await fetch(
        db,
        "select a.name, a.format, p.date, p.spend, p.impressions, p.link_clicks from meta_ads a"
        " join meta_ads_performance p using (meta_ad_id) where a.meta_ad_id = '120219900000000001'",
    )
    assert rows == [
        {
            "name": "Carousel A",
            "format": "image",
            "date": date(2025, 3, 9),
            "spend": Decimal("1000.50"),
            "impressions": 2000,
            "link_clicks": 0,
        }
    ]


async def test_a_large_export_imports_in_chunks(db: Database, org: str, tmp_path: Path) -> None:
    ads, days = 200, 60
    lines = ["Ad name,Ad ID,Day,Amount spent (USD),Impressions,ThruPlays"]
    lines += [
        f"Ad {a},1202188{a:011d},{date(2024, 1, 1) + timedelta(days=d)},1.25,100,{a % 2}"
        for a in range(ads)
        for d in range(days)
    ]
    path = write(tmp_path, "\n".join(lines) + "\n")
    progress: list[tuple[int, int]] = []
    summary = await import_meta_csv(
        db,
        path=path,
        brand_name="CSV Large Brand",
        org_name=ORG,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert (summary.ads_created, summary.days_inserted) == (ads, ads * days)
    assert progress == [(5000, 12000), (10000, 12000), (12000, 12000)]
    stored = await totals(db, "CSV Large Brand")
    assert (stored["n"], stored["spend"], stored["video_thruplays"]) == (12000, Decimal("15000.00"), 6000)
    formats = await fetch(
        db,
        "select format, count(*) as n from meta_ads a join brands b on b.id = a.brand_id"
        " where b.name = 'CSV Large Brand' group by format order by format",
    )
    assert formats == [{"format": "image", "n": 100}, {"format": "video", "n": 100}]


async def test_an_export_with_copy_columns_classifies_from_the_cli_and_names_the_ads_without_copy(
    db: Database, tmp_path: Path
) -> None:
    """Body, Title and Link (Ads Manager's "(ad settings)" spellings) become the ads' copy, headline and
    landing page; `viraltracker classify` then reads them with the offline rules and names the ads with
    no copy, biggest spenders first."""
    from tests.cli_helpers import run_cli

    org_name = f"CSV Copy Org {tmp_path.name[-8:]}"
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name=org_name)
    try:
        brand = "Glow Copy Co"
        imported = run_cli(
            db.url, tmp_path, "import", "meta-csv", str(COPY_EXPORT), "--brand", brand, "--org", org_name
        )
        assert imported.returncode == 0, imported.stderr
        assert f'3 of 8 ads have copy to classify: viraltracker classify --brand "{brand}"' in imported.stdout
        # As a sync does, the import queues the classification of the ads whose copy is new.
        assert "Queued: classifying 3 new ads; you'll get a notification." in imported.stdout
        again = run_cli(
            db.url, tmp_path, "import", "meta-csv", str(COPY_EXPORT), "--brand", brand, "--org", org_name
        )
        assert again.returncode == 0 and "Queued" not in again.stdout, again.stdout  # nothing new
        # A product added after the import is matched to the ads that link to its page at once.
        added = run_cli(
            db.url, tmp_path, "product", "add", "Glow Serum", "--brand", brand, "--org", org_name,
            "--url", "https://glowco.example/products/serum", "--description", "A serum for dull skin",
        )  # fmt: skip
        assert added.stdout.strip() == (
            f"Added 'Glow Serum' to {brand} with 1 product page. 1 of {brand}'s ads link to it."
        ), added.stderr

        classified = run_cli(db.url, tmp_path, "classify", "--brand", brand, "--org", org_name)
        assert classified.returncode == 0, classified.stderr
        offline = (
            "the offline rules (text only; set ANTHROPIC_API_KEY or GEMINI_API_KEY for full classification)"
        )
        assert " ".join(classified.stdout.split()) == (
            f"Classified 3 new or changed ads for {brand} with {offline}; 0 unchanged ads kept their"
            " classification; 5 skipped (5 ads without text (the offline rules read text only))."
            " No copy to read: Lookbook 1, Lookbook 2, Lookbook 3 and 2 more."
        )
        hooks = await fetch(
            db,
            "select a.name, c.hooks -> 'overlay' as hook from ad_creative_classifications c"
            " join meta_ads a using (meta_ad_id) where c.organization_id = %s order by a.name",
            org_id,
        )
        assert hooks == [
            {"name": "Derm Question",
             "hook": {"text": "Why do 9 out of 10 dermatologists recommend this cream?", "category": "social_proof"}},
            {"name": "Serum UGC", "hook": {"text": "Tired of dull skin?", "category": "problem_callout"}},
            {"name": "Shipping Static",
             "hook": {"text": "Free shipping today only: your glow starts now.", "category": "offer"}},
        ]  # fmt: skip
        stored = await fetch(
            db,
            "select a.name, a.ad_copy, a.headline, d.canonical_url from meta_ads a"
            " left join meta_ad_destinations d using (meta_ad_id) where a.organization_id = %s"
            " and a.name not like 'Lookbook%%' order by a.name",
            org_id,
        )
        assert stored == [
            {"name": "Derm Question", "ad_copy": "Why do 9 out of 10 dermatologists recommend this cream?",
             "headline": "Night Cream", "canonical_url": "https://glowco.example/products/night-cream"},
            {"name": "Serum UGC", "ad_copy": "Tired of dull skin? Meet the serum that works overnight.",
             "headline": "Glow Serum", "canonical_url": "https://glowco.example/products/serum"},
            {"name": "Shipping Static", "ad_copy": None,
             "headline": "Free shipping today only: your glow starts now.", "canonical_url": None},
        ]  # fmt: skip
    finally:
        async with db.as_owner() as conn:
            await conn.execute("delete from organizations where id = %s", (org_id,))


async def test_an_export_naming_an_ad_made_here_by_its_tracking_id_links_it(
    db: Database, tmp_path: Path
) -> None:
    """An ad made by /create_ads and launched under its suggested name comes back in the next export:
    the import links it to the ad made here (as a sync does), in this organization only."""
    from tests.cli_helpers import run_cli

    org_name = f"CSV Links Org {tmp_path.name[-8:]}"
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name=org_name)
    try:
        brand = "Glow Links Co"
        first = run_cli(
            db.url, tmp_path, "import", "meta-csv", str(COPY_EXPORT), "--brand", brand, "--org", org_name
        )
        assert first.returncode == 0, first.stderr
        assert "Results came back" not in first.stdout
        [made] = await fetch(
            db,
            "insert into generated_ads (brand_id, organization_id) select id, organization_id from brands"
            " where organization_id = %s returning id, tracking_id",
            org_id,
        )
        renamed = tmp_path / "renamed.csv"
        text = COPY_EXPORT.read_text(encoding="utf-8-sig")
        renamed.write_text(
            text.replace('"Serum UGC"', f'"Serum UGC · {made["tracking_id"]}"'), encoding="utf-8"
        )
        again = run_cli(
            db.url, tmp_path, "import", "meta-csv", str(renamed), "--brand", brand, "--org", org_name
        )
        assert again.returncode == 0, again.stderr
        assert "Results came back for ads made here: linked 1 live ad to ads made here." in again.stdout
        assert await fetch(db, "select meta_ad_id from generated_ads where id = %s", made["id"]) == [
            {"meta_ad_id": "130000000000000001"}
        ]
    finally:
        async with db.as_owner() as conn:
            await conn.execute("delete from organizations where id = %s", (org_id,))
