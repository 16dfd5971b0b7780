"""The benchmark brand: 20,000 ads × 365 days of Meta performance, generated in SQL.

"Bench Brand" lives in its own organization ("Bench Org") with one user (bench@bench.example).
Per-ad profiles come from `random()` after `setseed`; the daily rows come from hashes of
(ad, day), so the data is the same on every run. Rows are inserted day by day (a date range is
physically contiguous), the per-ad running totals (meta_ads_cumulative) are built from them in one
pass, and the tables are vacuumed afterwards (the visibility map is what lets window scans be
index-only).

By default this runs against its own embedded Postgres in `$VIRALTRACKER_HOME/bench-pgdata`
(never the app's database), tuned by `SERVER_SETTINGS`; with `DATABASE_URL` set it uses that
database as it is.

    .venv/bin/python -m bench.generate [--regenerate]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from db.migrate import migrate
from db.pool import Caller, Database
from services.platform.accounts import add_user, create_organization, find_caller
from settings import Settings, get_settings

BENCH_ORG = "Bench Org"
BENCH_BRAND = "Bench Brand"
BENCH_EMAIL = "bench@bench.example"
N_ADS = 20_000
N_DAYS = 365
EXPECTED_ROWS = N_ADS * N_DAYS
CLASSIFIED_SHARE = 0.85
RECLASSIFIED_SHARE = 0.06  # of classified ads: an older classification is kept too
SEED = 0.2026
PROMPT_VERSION = "classify-v1"
COMMIT_EVERY_DAYS = 30

# Server parameters of the dedicated embedded server (never applied to DATABASE_URL).
# shared_buffers needs a restart; the rest take effect on reload.
SERVER_SETTINGS: dict[str, str] = {
    # The window-scan index is ~1 GB for 7.3M rows (a 90-day window reads ~270 MB of it): keep
    # it in shared buffers rather than copying pages in from the OS cache on every scan.
    "shared_buffers": "2GB",
    # The bulk load: no checkpoints (and full-page writes) midway; a fast primary-key build and
    # VACUUM.
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "1GB",
}

Progress = Callable[[str], None]


# Text the generator picks from ---------------------------------------------------------------

_BRAND_VOICE = "Upbeat, practical and evidence-led; talks like a knowledgeable friend"
_BRAND_AUDIENCE = "busy adults 25-54"
_ANGLES = (
    "Science you can feel",
    "Five minutes a day",
    "Better than the usual fix",
    "Real people, real results",
)

# (code, name, price, who, pain, win, rival, days, offer, benefits, claims, scene)
_PRODUCTS: tuple[tuple[Any, ...], ...] = (
    (
        "GG",
        "Greens Powder",
        49.0,
        "people who skip vegetables",
        "afternoon energy crashes",
        "I stopped needing a 3pm coffee",
        "sugary energy drinks",
        14,
        "Free shaker with your first tub",
        (
            "Covers your daily greens in one scoop",
            "Steadies energy without caffeine",
            "Mixes smooth in water",
        ),
        ("75 whole-food ingredients", "Third-party tested", "No added sugar"),
        "Person slumped at a desk at 3pm",
    ),
    (
        "CP",
        "Collagen Peptides",
        39.0,
        "women over 35",
        "achy joints and brittle nails",
        "my nails finally grow past my fingertips",
        "gummy vitamins",
        30,
        "Save 20% with code RENEW20",
        ("Supports joints, skin and nails", "Dissolves invisibly in coffee", "Delivers 20 g of protein"),
        ("Grass-fed and pasture-raised", "Clinically studied peptides", "Unflavored and odor free"),
        "Close-up of a nail snapping",
    ),
    (
        "SL",
        "Sleep Drops",
        34.0,
        "light sleepers",
        "waking up at 3am wired",
        "I sleep through the night again",
        "melatonin pills",
        7,
        "Buy 2, get 1 free",
        ("Helps you fall asleep faster", "Wakes you without grogginess", "Tastes like honey, not medicine"),
        ("Melatonin free", "Fall asleep 2x faster", "Non habit-forming"),
        "Phone showing 3:12 AM in a dark bedroom",
    ),
    (
        "PB",
        "Plant Protein",
        44.0,
        "lifters who avoid dairy",
        "bloating from whey",
        "I finally recover without the bloat",
        "chalky whey tubs",
        21,
        "Try the 4-flavor sampler for $15",
        ("Packs 25 g of complete protein", "Digests easily with no bloating", "Blends creamy, never chalky"),
        ("25 g protein per scoop", "Dairy and soy free", "Informed Sport certified"),
        "Athlete clutching a bloated stomach after a shake",
    ),
    (
        "MB",
        "Massage Ball Set",
        29.0,
        "desk workers",
        "tight shoulders and a stiff neck",
        "my neck stopped aching by Friday",
        "expensive massage appointments",
        3,
        "Free shipping on every set",
        ("Releases knots in five minutes", "Fits in a desk drawer", "Targets neck, back and feet"),
        ("Physio designed", "Three firmness levels", "Lifetime guarantee"),
        "Office worker rubbing a stiff neck",
    ),
)
# (category, concept, spoken/overlay templates, opening visual, hook-rate ×, CTR ×)
_CATEGORIES: tuple[tuple[str, str, tuple[str, str], str, float, float], ...] = (
    ("question", "Question", ("Still dealing with {pain}?", "Why does nobody talk about {pain}?"),
     "Creator holds {name} up with a puzzled look", 1.0, 0.95),
    ("bold_claim", "Claim", ("{claim}. Or your money back.", "This is the last {name} you'll ever buy."),
     "Hero shot of {name} on a bright background", 0.95, 1.0),
    ("problem_callout", "PainPoint", ("If {pain} sounds familiar, stop scrolling.",
                                      "This is for anyone fed up with {pain}."), "{scene}", 1.3, 1.0),
    ("social_proof", "SocialProof", ("40,000 {who} switched to {name} this year.",
                                     "Rated 4.8 stars by 12,000 customers."),
     "Wall of 5-star reviews scrolling over {name}", 1.05, 1.05),
    ("curiosity", "Curiosity", ("The real reason behind {pain}.", "I didn't believe this until I tried it."),
     "Extreme close-up of {name} being opened", 1.1, 0.9),
    ("demonstration", "Demo", ("Watch what happens {days} days into {name}.", "Here's exactly how {name} works."),
     "Hands using {name} on a kitchen counter", 1.0, 1.05),
    ("testimonial", "Testimonial", ("I was skeptical, but {win}.", "Honestly? {win}."),
     "Customer filming a selfie video in the car", 1.25, 1.05),
    ("offer", "Offer", ("{offer}. Ends Sunday.", "Try {name} risk-free: {offer}."),
     "{name} with a bold red sale sticker", 0.7, 1.35),
    ("before_after", "BeforeAfter", ("Day 1 vs day {days} on {name}.", "Before {name}, and after {days} days."),
     "Split screen: before vs after {days} days", 1.3, 1.1),
    ("us_vs_them", "UsVsThem", ("Why {who} are ditching {rival} for {name}.", "{name} vs {rival}: not even close."),
     "Side-by-side of {name} and {rival}", 0.95, 1.0),
)  # fmt: skip
# (format, style, tone)
_STYLES = (
    ("video", "UGC", "casual first-person UGC"), ("video", "Founder", "earnest founder story"),
    ("video", "Podcast", "conversational"), ("video", "Street", "high-energy street interview"),
    ("video", "Unboxing", "excited and casual"), ("image", "Static", "clean and direct"),
    ("image", "Meme", "irreverent meme humour"), ("image", "Review", "plain customer voice"),
    ("image", "Comparison", "matter-of-fact"), ("carousel", "Carousel", "informative"),
)  # fmt: skip
# (campaign, adsets, weight, CPM ×, conversion ×)
_CAMPAIGNS = (
    ("Prospecting - Broad", ("Broad US 25-54", "Advantage+ Audience"), 35, 1.0, 1.0),
    ("Prospecting - Interest Stack", ("Interest stack A", "Interest stack B"), 12, 1.1, 0.9),
    ("Creative Testing - CBO", ("Test cell 1", "Test cell 2", "Test cell 3"), 18, 1.0, 0.95),
    ("ASC+ Scaling", ("ASC+ all audiences",), 22, 0.9, 1.15),
    ("Retargeting - 7d", ("Site visitors 7d", "Add to cart 14d"), 13, 1.4, 1.7),
)
_DIMENSIONS = ("product", "offer", "angle", "benefits", "claims", "audience", "voice_tone")
# (aligned, weak, missing) weights per dimension, as in the demo data.
_STATUS_WEIGHTS = ((92, 6, 2), (45, 30, 25), (75, 20, 5), (75, 20, 5), (50, 30, 20), (80, 15, 5), (80, 18, 2))
_NOTES = {
    "aligned": "The landing page says the same thing above the fold.",
    "weak": "The page touches on it, but in different words or far below the fold.",
    "missing": "The landing page never mentions this, so the click loses the thread.",
}


def _fill(template: str, p: tuple[Any, ...]) -> str:
    _, name, _, who, pain, win, rival, days, offer, _, claims, scene = p
    text = template.format(
        name=name,
        who=who,
        pain=pain,
        win=win,
        rival=rival,
        days=days,
        offer=offer,
        claim=claims[0],
        scene=scene,
    )
    return text[0].upper() + text[1:]


# Server ------------------------------------------------------------------------------------------


def default_pgdata(settings: Settings) -> Path:
    return settings.viraltracker_home / "bench-pgdata"


def _restart_embedded(pgdata: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    # `restart` reuses the options the server was started with (postmaster.opts): same socket.
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=user, timeout=120)


def tune_embedded(url: str, pgdata: Path, progress: Progress = print) -> dict[str, str]:
    """Apply SERVER_SETTINGS with ALTER SYSTEM; reload, and restart when one needs it."""
    with psycopg.connect(url, autocommit=True) as conn:
        changed = False
        for name, value in SERVER_SETTINGS.items():
            current = conn.execute(
                "select coalesce((select setting from pg_file_settings"
                " where name = %s and applied is not null order by seqno desc limit 1), '')",
                (name,),
            ).fetchone()
            if current is None or current[0] != value:
                conn.execute(f"alter system set {name} = '{value}'")
                changed = True
        if changed:
            conn.execute("select pg_reload_conf()")
        time.sleep(0.2 if changed else 0)
        pending = conn.execute("select name from pg_settings where pending_restart").fetchall()
    if pending:
        progress(f"restarting the bench server for {', '.join(r[0] for r in pending)}")
        _restart_embedded(pgdata)
    with psycopg.connect(url, autocommit=True) as conn:
        return {name: str(conn.execute(f"show {name}").fetchone()[0]) for name in SERVER_SETTINGS}  # type: ignore[index]


def bench_database_url(
    settings: Settings | None = None, pgdata: Path | None = None, progress: Progress = print
) -> tuple[str, bool]:
    """The bench database: `DATABASE_URL` when set, else the dedicated embedded server (tuned).

    Returns (url, embedded).
    """
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url, False
    from db.embedded import start_embedded

    pgdata = pgdata or default_pgdata(settings)
    url = start_embedded(pgdata)
    tune_embedded(url, pgdata, progress)
    return url, True


# Data --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchData:
    organization_id: UUID
    brand_id: UUID
    caller: Caller
    first_day: date
    last_day: date
    performance_rows: int
    ads: int
    classified_ads: int
    generated: bool
    seconds: float


async def _counts(conn: AsyncConnection[Any], brand_id: UUID) -> tuple[int, int, int]:
    cur = await conn.execute(
        "select (select count(*) from meta_ads_performance where brand_id = %(b)s) as rows,"
        " (select count(*) from meta_ads where brand_id = %(b)s) as ads,"
        " (select count(distinct meta_ad_id) from ad_creative_classifications where brand_id = %(b)s) as cls",
        {"b": brand_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["rows"]), int(row["ads"]), int(row["cls"])


async def _find_brand(conn: AsyncConnection[Any]) -> tuple[UUID, UUID] | None:
    cur = await conn.execute(
        "select b.id, b.organization_id from brands b join organizations o on o.id = b.organization_id"
        " where o.name = %s and b.name = %s",
        (BENCH_ORG, BENCH_BRAND),
    )
    row = await cur.fetchone()
    return None if row is None else (UUID(str(row["id"])), UUID(str(row["organization_id"])))


async def _delete_bench(conn: AsyncConnection[Any], *, dedicated: bool, progress: Progress) -> None:
    """Remove earlier bench data: all of it on the dedicated server, else just the bench organization."""
    if dedicated:
        # The dedicated server holds nothing but bench data: empty every tenant table at once.
        await conn.execute("truncate organizations cascade")
        return
    found = await _find_brand(conn)
    if found is None:
        return
    progress("deleting the previous bench data")
    brand_id, org_id = found
    await conn.execute("delete from meta_ads_performance where brand_id = %s", (brand_id,))
    await conn.execute("delete from ad_creative_classifications where brand_id = %s", (brand_id,))
    await conn.execute("delete from organizations where id = %s", (org_id,))
    # Free the space now so the new rows are laid down in order again.
    await conn.execute("vacuum meta_ads_performance, ad_creative_classifications, meta_ads")


_PK = "meta_ads_performance_pkey"


async def _has_pk(conn: AsyncConnection[Any]) -> bool:
    cur = await conn.execute(
        "select exists (select 1 from pg_constraint where conname = %s"
        " and conrelid = 'public.meta_ads_performance'::regclass) as present",
        (_PK,),
    )
    row = await cur.fetchone()
    return bool(row and row["present"])


async def _restore_pk(conn: AsyncConnection[Any]) -> None:
    """The primary key exactly as the data-model migration declares it."""
    if not await _has_pk(conn):
        await conn.execute(
            f"alter table meta_ads_performance add constraint {_PK} primary key (meta_ad_id, date)"
        )


_VACUUMED = (
    "meta_ads_performance",
    "meta_ads_cumulative",
    "meta_ads",
    "ad_creative_classifications",
    "brands",
)


async def _vacuum(conn: AsyncConnection[Any]) -> None:
    """Statistics, and the visibility map that index-only scans need (cheap where already set)."""
    for table in _VACUUMED:
        await conn.execute(f"vacuum (analyze) {table}")


# The statement triggers that keep meta_ads_cumulative (20261125000500_ad_cumulative_totals.sql).
_CUMULATIVE_TRIGGERS = (
    "meta_ads_cumulative_insert",
    "meta_ads_cumulative_update",
    "meta_ads_cumulative_delete",
    "meta_ads_cumulative_truncate",
)


async def _set_cumulative_triggers(conn: AsyncConnection[Any], *, enabled: bool) -> None:
    """Switch the rollup's triggers (dedicated server only: the switch is for every session)."""
    action = "enable" if enabled else "disable"
    for trigger in _CUMULATIVE_TRIGGERS:
        await conn.execute(f"alter table meta_ads_performance {action} trigger {trigger}")


async def _cumulative_rows(conn: AsyncConnection[Any], brand_id: UUID) -> int:
    cur = await conn.execute("select count(*) as n from meta_ads_cumulative where brand_id = %s", (brand_id,))
    row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def _build_cumulative(conn: AsyncConnection[Any], brand_id: UUID, *, dedicated: bool) -> None:
    """The brand's running totals in one pass, exactly as the triggers would keep them.

    For a bulk load done without the triggers: each (ad, day) row holds the ad's totals from its
    first day through that day. On the dedicated server the rollup's indexes are dropped first and
    rebuilt after, from their own definitions (sorted builds), all in the one transaction.
    """
    async with conn.transaction():
        await conn.execute("set local work_mem = '1GB'")  # the window's sort, in memory
        rebuild: list[str] = []
        if dedicated:  # nothing but bench data here
            await conn.execute("truncate meta_ads_cumulative")
            cur = await conn.execute(
                "select coalesce(c.conname, i.indexrelid::regclass::text) as name, c.conname is not null"
                " as is_constraint, case when c.conname is null then pg_get_indexdef(i.indexrelid) else"
                " format('alter table meta_ads_cumulative add constraint %I %s', c.conname,"
                " pg_get_constraintdef(c.oid)) end as ddl"
                " from pg_index i left join pg_constraint c on c.conindid = i.indexrelid"
                " and c.conrelid = i.indrelid where i.indrelid = 'public.meta_ads_cumulative'::regclass"
            )
            for index in await cur.fetchall():
                if index["is_constraint"]:
                    await conn.execute(f"alter table meta_ads_cumulative drop constraint {index['name']}")
                else:
                    await conn.execute(f"drop index {index['name']}")
                rebuild.append(index["ddl"])
        else:
            await conn.execute("delete from meta_ads_cumulative where brand_id = %s", (brand_id,))
        await conn.execute(
            """
            insert into meta_ads_cumulative (meta_ad_id, date, brand_id, organization_id, spend_cents,
              impressions, link_clicks, purchases, purchase_value_cents, video_3s_views, video_thruplays)
            select p.meta_ad_id, p.date, p.brand_id, p.organization_id,
                   (sum(p.spend_cents) over w)::bigint, (sum(p.impressions) over w)::bigint,
                   (sum(p.link_clicks) over w)::bigint, (sum(p.purchases) over w)::bigint,
                   (sum(p.purchase_value_cents) over w)::bigint, (sum(p.video_3s_views) over w)::bigint,
                   (sum(p.video_thruplays) over w)::bigint
            from meta_ads_performance p
            where p.brand_id = %s
            window w as (partition by p.meta_ad_id order by p.date
                         rows between unbounded preceding and current row)
            order by p.meta_ad_id, p.date
            """,
            (brand_id,),
        )
        for ddl in rebuild:
            await conn.execute(ddl)


async def _setup(conn: AsyncConnection[Any], db: Database, first_day: date) -> tuple[UUID, UUID]:
    """Organization, user, brand, ad account, products and their landing pages; the temp tables."""
    async with db.as_owner() as owner:
        org_id = await create_organization(owner, name=BENCH_ORG)
        await add_user(owner, email=BENCH_EMAIL, organization_id=org_id, role="admin")
    cur = await conn.execute(
        "insert into brands (organization_id, name, brand_voice_tone, website_url, niche, ad_library_url)"
        " values (%s, %s, %s, 'https://benchbrand.example', 'wellness', "
        " 'https://www.facebook.com/ads/library/?q=bench-brand') returning id",
        (org_id, BENCH_BRAND, _BRAND_VOICE),
    )
    row = await cur.fetchone()
    assert row is not None
    brand_id = UUID(str(row["id"]))
    await conn.execute(
        "insert into brand_ad_accounts (brand_id, organization_id, meta_ad_account_id)"
        " values (%s, %s, 'act_900000000000001')",
        (brand_id, org_id),
    )
    await conn.execute(
        """
        create temp table bench_products (pidx int primary key, product_id uuid, lp_id uuid, code text,
          name text, price float8, who text, offer text, url text);
        create temp table bench_categories (cidx int primary key, category text, concept text,
          hook_x float8, ctr_x float8);
        create temp table bench_hooks (cidx int, pidx int, spoken text, overlay text, visual text,
          primary key (cidx, pidx));
        create temp table bench_styles (sidx int primary key, format text, style text, tone text);
        create temp table bench_campaigns (kidx int primary key, name text, campaign_id text,
          adsets text[], adset_ids text[], lo float8, hi float8, cpm_x float8, cvr_x float8);
        create temp table bench_dims (pidx int, didx int, variant int, dimension text, ad text,
          aligned text, weak text, primary key (pidx, didx, variant));
        create temp table bench_beats (pidx int, bidx int, t float8, scene text, text_overlay text,
          primary key (pidx, bidx));
        """
    )
    for pidx, p in enumerate(_PRODUCTS, start=1):
        code, name, price, who, pain, win, _, _, offer, benefits, claims, scene = p
        url = f"https://benchbrand.example/products/{name.lower().replace(' ', '-')}"
        cur = await conn.execute(
            "insert into products (brand_id, organization_id, name, price, product_url, description)"
            " values (%s, %s, %s, %s, %s, %s) returning id",
            (brand_id, org_id, name, price, url, f"For {who} dealing with {pain}."),
        )
        prow = await cur.fetchone()
        assert prow is not None
        markdown = (
            f"# {name}: {benefits[0]}\n\nMade for {who} dealing with {pain}. {claims[0]}.\n\n"
            f"**${price:.2f}** · {offer}\n\n" + "\n".join(f"- {b}" for b in benefits)
        )
        cur = await conn.execute(
            "insert into brand_landing_pages (brand_id, organization_id, product_id, url, title, raw_markdown,"
            " content_hash, benefits) values (%s, %s, %s, %s, %s, %s, md5(%s), to_jsonb(%s::text[]))"
            " returning id",
            (
                brand_id,
                org_id,
                prow["id"],
                url,
                f"{name} | {BENCH_BRAND}",
                markdown,
                markdown,
                list(benefits),
            ),
        )
        lrow = await cur.fetchone()
        assert lrow is not None
        await conn.execute(
            "insert into bench_products values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (pidx, prow["id"], lrow["id"], code, name, price, who, offer, url),
        )
        for cidx, (_, _, templates, visual, _, _) in enumerate(_CATEGORIES, start=1):
            await conn.execute(
                "insert into bench_hooks values (%s, %s, %s, %s, %s)",
                (cidx, pidx, _fill(templates[0], p), _fill(templates[1], p), _fill(visual, p)),
            )
        for variant in (1, 2, 3):
            angle = _ANGLES[(pidx + variant) % len(_ANGLES)]
            other_angle = _ANGLES[(pidx + variant + 1) % len(_ANGLES)]
            b, other_b = benefits[variant - 1], benefits[variant % 3]
            c, other_c = claims[variant - 1], claims[variant % 3]
            texts = (
                (name, name, f"{BENCH_BRAND} best-sellers collection"),
                (offer, offer, "Subscribe and save 10%"),
                (angle, angle, other_angle),
                (b, b, other_b),
                (c, c, other_c),
                (who, who, _BRAND_AUDIENCE),
                ("", _BRAND_VOICE, _BRAND_VOICE),  # the ad's tone comes from its style
            )
            for didx, (dim, (ad, aligned, weak)) in enumerate(zip(_DIMENSIONS, texts, strict=True), start=1):
                await conn.execute(
                    "insert into bench_dims values (%s, %s, %s, %s, %s, %s, %s)",
                    (pidx, didx, variant, dim, ad, aligned, weak),
                )
        beats = (
            (0.0, "", ""),
            (3.0, scene, None),
            (7.0, f"Close-up of {name}", benefits[0]),
            (12.0, "Creator explains how it works", claims[0]),
            (18.0, f"Result: {win}", None),
            (24.0, "End card", offer),
        )
        for bidx, (t, beat_scene, overlay) in enumerate(beats, start=1):
            await conn.execute(
                "insert into bench_beats values (%s, %s, %s, %s, %s)", (pidx, bidx, t, beat_scene, overlay)
            )
    for cidx, (category, concept, _, _, hook_x, ctr_x) in enumerate(_CATEGORIES, start=1):
        await conn.execute(
            "insert into bench_categories values (%s, %s, %s, %s, %s)",
            (cidx, category, concept, hook_x, ctr_x),
        )
    for sidx, (fmt, style, tone) in enumerate(_STYLES, start=1):
        await conn.execute("insert into bench_styles values (%s, %s, %s, %s)", (sidx, fmt, style, tone))
    total = sum(c[2] for c in _CAMPAIGNS)
    lo = 0.0
    for kidx, (name, adsets, weight, cpm_x, cvr_x) in enumerate(_CAMPAIGNS, start=1):
        hi = lo + weight / total
        await conn.execute(
            "insert into bench_campaigns values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                kidx, name, f"2385{9000000000 + kidx}", list(adsets),
                [f"2385{8000000000 + kidx * 10 + j}" for j in range(len(adsets))],
                lo, 1.0 if kidx == len(_CAMPAIGNS) else hi, cpm_x, cvr_x,
            ),
        )  # fmt: skip
        lo = hi
    await _plan(conn)
    await _ads(conn, brand_id, org_id, first_day)
    await _classifications(conn, brand_id, org_id)
    return brand_id, org_id


async def _plan(conn: AsyncConnection[Any]) -> None:
    """Each ad's hidden profile, from seeded random()."""
    aligned = ", ".join(str(w[0] / 100) for w in _STATUS_WEIGHTS)
    weak = ", ".join(str((w[0] + w[1]) / 100) for w in _STATUS_WEIGHTS)
    await conn.execute("select setseed(%s)", (SEED,))
    await conn.execute(
        f"""
        create temp table bench_raw as
        select i, random() as r_fmt, random() as r_style, random() as r_cat, random() as r_prod,
               random() as r_camp, random() as r_adset, random_normal() as quality, random_normal() as z_spend,
               random_normal() as z_cpm, random_normal() as z_hook, random() as r_hold, random_normal() as z_ctr,
               random_normal() as z_cvr, random() as r_aov, random() as r_cls, random() as r_old,
               random_normal() as trend, random() as r_phase, random() as r_spoken, random() as r_overlay,
               random() as r_aware, random() as r_variant, random() as r_beats, random() as r_launch,
               array[random(), random(), random(), random(), random(), random(), random()] as r_dims
        from generate_series(1, {N_ADS}) as i
        order by i;
        create temp table bench_plan as
        with base as (
          select r.*, '1202190' || lpad(r.i::text, 11, '0') as meta_ad_id,
                 case when r.r_fmt < 0.80 then 'video' when r.r_fmt < 0.97 then 'image' else 'carousel' end as format,
                 1 + floor(r.r_cat * {len(_CATEGORIES)})::int as cidx,
                 1 + floor(power(r.r_prod, 1.6) * {len(_PRODUCTS)})::int as pidx,
                 (select k.kidx from bench_campaigns k where r.r_camp >= k.lo and r.r_camp < k.hi) as kidx,
                 array(select case when r.r_dims[d] < (array[{aligned}])[d] then 1
                                   when r.r_dims[d] < (array[{weak}])[d] then 2 else 3 end
                       from generate_series(1, 7) d order by d) as statuses
          from bench_raw r
        )
        select b.i, b.meta_ad_id, b.format, b.format = 'video' as is_video, b.cidx, b.pidx, b.kidx,
               (select s.sidx from bench_styles s where s.format = b.format
                order by s.sidx
                offset floor(b.r_style * (select count(*) from bench_styles s2 where s2.format = b.format))::int
                limit 1) as sidx,
               b.statuses,
               round(((select count(*) from unnest(b.statuses) s where s = 1)
                      + 0.5 * (select count(*) from unnest(b.statuses) s where s = 2)) / 7.0, 3) as congruence_score,
               6.0 * exp(1.3 * (0.5 * b.quality + 0.866 * b.z_spend)) as daily_spend,
               least(40, greatest(8, 18.0 * k.cpm_x * exp(0.25 * b.z_cpm))) as cpm,
               0.26 * c.hook_x * exp(0.12 * b.quality + 0.08 * b.z_hook) as hook_rate,
               0.12 + 0.26 * b.r_hold as hold_rate,
               0.011 * c.ctr_x * exp(0.12 * b.quality + 0.1 * b.z_ctr) as ctr,
               k.cvr_x, b.z_cvr, b.r_aov, b.r_cls, b.r_old, b.r_spoken, b.r_overlay, b.r_aware, b.r_adset,
               1 + floor(b.r_variant * 3)::int as variant, b.r_beats,
               0.4 * b.trend as trend, floor(b.r_phase * 120)::int as phase,
               floor(b.r_launch * 400)::int as launched_days_before
        from base b join bench_categories c using (cidx) join bench_campaigns k using (kidx)
        order by b.i;
        alter table bench_plan add column cvr float8, add column aov float8;
        update bench_plan p set
          cvr = 0.045 * p.cvr_x * (0.6 + 0.6 * p.congruence_score) * exp(0.2 * p.z_cvr),
          aov = pr.price * (1.1 + 0.5 * p.r_aov)
        from bench_products pr where pr.pidx = p.pidx;
        create unique index on bench_plan (i);
        analyze bench_plan;
        """
    )


async def _ads(conn: AsyncConnection[Any], brand_id: UUID, org_id: UUID, first_day: date) -> None:
    params = {"brand": brand_id, "org": org_id, "first": first_day}
    await conn.execute(
        """
        insert into meta_ads (meta_ad_id, brand_id, organization_id, meta_ad_account_id, name, campaign,
          campaign_id, adset, adset_id, format, ad_copy, headline, thumbnail_url, video_id, video_url, status,
          created_time)
        select p.meta_ad_id, %(brand)s, %(org)s, 'act_900000000000001',
               pr.code || '_' || s.style || '_' || c.concept || '_v'
                 || row_number() over (partition by pr.code, s.style, c.concept order by p.i),
               k.name, k.campaign_id,
               k.adsets[1 + floor(p.r_adset * cardinality(k.adsets))::int],
               k.adset_ids[1 + floor(p.r_adset * cardinality(k.adsets))::int],
               p.format, h.overlay || ' ' || pr.offer || '. Shop now.', pr.name || ': ' || d.ad,
               'https://bench.invalid/thumbs/' || p.meta_ad_id || '.jpg',
               case when p.is_video then '9' || substr(p.meta_ad_id, 4) end,
               case when p.is_video then 'https://bench.invalid/videos/' || p.meta_ad_id || '.mp4' end,
               'active',
               (%(first)s::date - p.launched_days_before)::timestamptz + interval '9 hours'
        from bench_plan p
        join bench_products pr on pr.pidx = p.pidx
        join bench_categories c on c.cidx = p.cidx
        join bench_styles s on s.sidx = p.sidx
        join bench_campaigns k on k.kidx = p.kidx
        join bench_hooks h on h.cidx = p.cidx and h.pidx = p.pidx
        join bench_dims d on d.pidx = p.pidx and d.didx = 4 and d.variant = p.variant
        order by p.i
        """,
        params,
    )
    await conn.execute(
        """
        insert into meta_ad_destinations (meta_ad_id, organization_id, url, canonical_url)
        select p.meta_ad_id, %(org)s,
               pr.url || '?utm_source=facebook&utm_medium=paid_social&utm_content=' || p.meta_ad_id, pr.url
        from bench_plan p join bench_products pr on pr.pidx = p.pidx order by p.i
        """,
        params,
    )
    await conn.execute(
        """
        insert into meta_ad_product_matches (meta_ad_id, product_id, organization_id, match_method, confidence)
        select p.meta_ad_id, pr.product_id, %(org)s, 'url', 1.0
        from bench_plan p join bench_products pr on pr.pidx = p.pidx order by p.i;
        """,
        params,
    )


async def _classifications(conn: AsyncConnection[Any], brand_id: UUID, org_id: UUID) -> None:
    """~85% of ads classified; a few carry an older classification (another prompt version) too."""
    notes = _NOTES
    await conn.execute(
        f"""
        insert into ad_creative_classifications (meta_ad_id, brand_id, organization_id, input_hash,
          prompt_version, source, model, format, awareness_level, congruence_score, congruence_components,
          hooks, benefits, angles, claims, transcript, storyboard, landing_page_id, classified_at)
        select p.meta_ad_id, %(brand)s, %(org)s, md5(p.meta_ad_id || v.prompt_version), v.prompt_version,
               'bench', 'bench-generator', p.format,
               case when k.name like 'Retargeting%%'
                    then (array['solution_aware', 'product_aware', 'product_aware', 'most_aware'])
                         [1 + floor(p.r_aware * 4)::int]
                    else (array['unaware', 'problem_aware', 'problem_aware', 'solution_aware', 'product_aware'])
                         [1 + floor(p.r_aware * 5)::int] end,
               case when v.old then null else p.congruence_score end,
               (select jsonb_agg(jsonb_build_object(
                          'dimension', d.dimension,
                          'status', (array['aligned', 'weak', 'missing'])[p.statuses[d.didx]],
                          'ad', case when d.dimension = 'voice_tone' then s.tone else d.ad end,
                          'landing_page', case p.statuses[d.didx] when 1 then d.aligned when 2 then d.weak
                                          else '' end,
                          'note', case p.statuses[d.didx] when 1 then '{notes["aligned"]}'
                                  when 2 then '{notes["weak"]}' else '{notes["missing"]}' end)
                        order by d.didx)
                from bench_dims d where d.pidx = p.pidx and d.variant = p.variant),
               jsonb_build_object(
                 'spoken', case when hk.spoken then jsonb_build_object('text', h.spoken, 'category', c.category) end,
                 'overlay', case when hk.overlay then jsonb_build_object('text', h.overlay, 'category', c.category)
                            end,
                 'visual', jsonb_build_object('text', h.visual, 'category', c.category)),
               jsonb_build_array(db.ad), jsonb_build_array(da.ad), jsonb_build_array(dc.ad),
               case when hk.spoken then h.spoken || ' I''ve used ' || pr.name || ' for a few weeks and '
                    || lower(db.ad) || '. ' || dc.ad || '.' end,
               (select jsonb_agg(jsonb_build_object(
                          't', b.t,
                          'scene', case when b.bidx = 1 then h.visual else b.scene end,
                          'text_overlay', case when b.bidx = 1
                                               then case when hk.overlay then h.overlay else h.spoken end
                                               else b.text_overlay end)
                        order by b.bidx)
                from bench_beats b
                where b.pidx = p.pidx
                  and b.bidx <= case when p.is_video then 3 + floor(p.r_beats * 4)::int else 1 end),
               pr.lp_id,
               now() - make_interval(days => case when v.old then 60 else 2 end)
                     - make_interval(secs => p.i)
        from bench_plan p
        cross join lateral (values (false, '{PROMPT_VERSION}'), (true, 'classify-v0'))
          as v(old, prompt_version)
        join bench_products pr on pr.pidx = p.pidx
        join bench_styles s on s.sidx = p.sidx
        join bench_campaigns k on k.kidx = p.kidx
        join bench_categories c on c.cidx = case when v.old then 1 + p.cidx %% {len(_CATEGORIES)} else p.cidx end
        join bench_hooks h on h.cidx = c.cidx and h.pidx = p.pidx
        join bench_dims da on da.pidx = p.pidx and da.didx = 3 and da.variant = p.variant
        join bench_dims db on db.pidx = p.pidx and db.didx = 4 and db.variant = p.variant
        join bench_dims dc on dc.pidx = p.pidx and dc.didx = 5 and dc.variant = p.variant
        cross join lateral (
          select p.is_video and p.r_spoken < 0.85 as spoken,
                 not (p.is_video and p.r_spoken < 0.85) or p.r_overlay < 0.6 as overlay) hk
        where p.r_cls < {CLASSIFIED_SHARE} and (not v.old or p.r_old < {RECLASSIFIED_SHARE})
        order by v.old desc, p.i
        """,
        {"brand": brand_id, "org": org_id},
    )


# The daily rows: every value a function of hashes of (ad, day), so reruns give the same data.
# x.uK is uniform in (0, 1); zK approximately standard normal (logistic with matched variance).
# The arithmetic is float8 with money in whole cents, cast to numeric only on output.
def _z(k: int) -> str:
    return f"(0.5513 * ln(x.u{k} / (1 - x.u{k})))"


_N_UNIFORMS = 18
_UNIFORMS = ",\n         ".join(
    f"((hashint8extended(k.key, {n}) & 281474976710655)::float8 + 0.5) / 281474976710656 as u{n}"
    for n in range(1, _N_UNIFORMS + 1)
)
# Counts, each bounded by the one it is drawn from (so 3s views <= impressions, and so on).
_IMPRESSIONS = "c.impressions"
_LINK_CLICKS = "c.link_clicks"
_VIEWS = "c.views"
_ADD_TO_CARTS = f"least({_LINK_CLICKS}, floor({_LINK_CLICKS} * least(0.5, p.cvr * 3) + x.u9))"
_PURCHASES = f"least({_ADD_TO_CARTS}, floor({_ADD_TO_CARTS} * (0.25 + 0.2 * x.u10) + x.u12))"
_P25 = f"floor({_VIEWS} * (0.55 + 0.2 * x.u14))"
_P50 = f"floor({_P25} * (0.55 + 0.2 * x.u15))"
_THRU = f"least({_P50}, floor({_VIEWS} * p.hold_rate * x.fatigue + x.u16))"
_P75 = f"floor({_THRU} * (0.55 + 0.25 * x.u17))"
_P100 = f"floor({_P75} * (0.5 + 0.3 * x.u18))"

_DAY_SQL = f"""
insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id, spend, impressions, reach,
  clicks, link_clicks, add_to_carts, purchases, purchase_value, video_3s_views, video_thruplays,
  video_p25, video_p50, video_p75, video_p100)
select p.meta_ad_id, %(day)s::date, %(brand)s, %(org)s,
       b.cents::bigint * 0.01,
       {_IMPRESSIONS},
       greatest(1, least({_IMPRESSIONS}, floor({_IMPRESSIONS} / b.frequency)))::bigint,
       least({_IMPRESSIONS}, {_LINK_CLICKS} + floor(({_IMPRESSIONS} - {_LINK_CLICKS}) * b.ctr
                                                   * (0.3 + 0.5 * x.u7) + x.u8))::bigint,
       {_LINK_CLICKS},
       {_ADD_TO_CARTS}::bigint,
       {_PURCHASES}::bigint,
       round({_PURCHASES} * p.aov * (0.85 + 0.35 * x.u11) * 100)::bigint * 0.01,
       {_VIEWS}, {_THRU}::bigint, {_P25}::bigint, {_P50}::bigint, {_P75}::bigint, {_P100}::bigint
from bench_plan p
cross join lateral (
  select k.key, k.age, 1 - 0.3 * k.age / 120.0 as fatigue,
         {_UNIFORMS}
  from (select p.i::bigint * 4096 + %(dn)s as key, ((%(dn)s + p.phase) %% 120)::float8 as age) k
  offset 0) x
cross join lateral (
  select greatest(30, round(100 * p.daily_spend * exp(p.trend * (%(dn)s - {N_DAYS // 2})::float8 / {N_DAYS})
                            * %(weekday)s * least(1.0, (x.age + 1) / 3.0) * exp(0.35 * {_z(1)}))) as cents,
         least(40, greatest(6, p.cpm * (1 + 0.002 * x.age) * exp(0.12 * {_z(2)}))) as cpm,
         least(0.05, greatest(0.002, p.ctr * x.fatigue * exp(0.15 * {_z(3)}))) as ctr,
         least(0.6, greatest(0.05, p.hook_rate * x.fatigue * exp(0.08 * {_z(4)}))) as hook_rate,
         least(4.5, 1.02 + 0.025 * x.age) * (0.97 + 0.06 * x.u5) as frequency
  offset 0) b
cross join lateral (
  select y.impressions,
         least(y.impressions, floor(y.impressions * b.ctr + x.u6))::bigint as link_clicks,
         case when p.is_video then least(y.impressions, floor(y.impressions * b.hook_rate + x.u13))::bigint
              else 0 end as views
  from (select greatest(1, floor(b.cents * 10 / b.cpm))::bigint as impressions) y
  offset 0) c
order by p.i
"""


async def _performance(
    conn: AsyncConnection[Any], brand_id: UUID, org_id: UUID, first_day: date, progress: Progress
) -> None:
    started = time.monotonic()
    for chunk in range(0, N_DAYS, COMMIT_EVERY_DAYS):
        async with conn.transaction():
            for dn in range(chunk, min(N_DAYS, chunk + COMMIT_EVERY_DAYS)):
                day = first_day + timedelta(days=dn)
                weekday = 1.1 if day.isoweekday() >= 6 else 0.96
                await conn.execute(
                    _DAY_SQL,
                    {"day": day, "dn": dn, "brand": brand_id, "org": org_id, "weekday": weekday},
                )
        done = min(N_DAYS, chunk + COMMIT_EVERY_DAYS)
        progress(
            f"  performance: {done}/{N_DAYS} days ({done * N_ADS:,} rows, {time.monotonic() - started:.0f}s)"
        )


async def ensure_bench_data(
    db: Database,
    url: str,
    *,
    dedicated: bool,
    regenerate: bool = False,
    today: date | None = None,
    progress: Progress = print,
) -> BenchData:
    """Migrate, then generate the bench brand unless it is already complete (or `regenerate`).

    `dedicated`: the database is the bench's own (the embedded bench server), so earlier data is
    truncated and the primary key is dropped for the load and rebuilt after (a sorted build is
    much cheaper than 7.3M scattered inserts into it); the rollup's triggers are off meanwhile and
    the rollup (meta_ads_cumulative) is built in one pass afterwards. Elsewhere only the bench
    organization is touched and every constraint and trigger stays in place.

    Already complete data is kept; its rollup is rebuilt if short, and after any migration the
    tables are vacuumed again (index-only scans need the visibility map).
    """
    started = time.monotonic()
    applied = await migrate(db)
    conn = await AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    try:
        if dedicated:
            # In case an earlier load was interrupted.
            await _restore_pk(conn)
            await _set_cumulative_triggers(conn, enabled=True)
        found = await _find_brand(conn)
        complete = False
        if found is not None:
            rows, ads, classified = await _counts(conn, found[0])
            complete = rows == EXPECTED_ROWS and ads == N_ADS and classified > 0
            if not complete:
                progress(f"bench data incomplete ({rows:,} performance rows, {ads:,} ads): regenerating")
        generated = regenerate or not complete
        if generated:
            await _delete_bench(conn, dedicated=dedicated, progress=progress)
            last_day = (today or date.today()) - timedelta(days=1)
            first_day = last_day - timedelta(days=N_DAYS - 1)
            progress(f"generating {N_ADS:,} ads × {N_DAYS} days ({first_day} to {last_day})")
            # A bulk load of rows consistent by construction: skip the per-row FK triggers, and the
            # rollup's triggers too (the rollup is built in one pass afterwards). Replica mode is
            # this session's alone; on the dedicated server the triggers are also switched off.
            bulk = dedicated
            try:
                await conn.execute("set session_replication_role = replica")
                bulk = True
            except psycopg.errors.InsufficientPrivilege:
                pass  # the triggers keep the rollup as the days go in
            await conn.execute("set work_mem = '256MB'")
            async with conn.transaction():
                brand_id, org_id = await _setup(conn, db, first_day)
            progress(f"  ads and classifications ({time.monotonic() - started:.0f}s)")
            if dedicated:
                await conn.execute(f"alter table meta_ads_performance drop constraint {_PK}")
                await _set_cumulative_triggers(conn, enabled=False)
            await _performance(conn, brand_id, org_id, first_day, progress)
            if dedicated:
                progress("  primary key")
                await _restore_pk(conn)
            if bulk:
                progress(f"  cumulative totals ({time.monotonic() - started:.0f}s)")
                await _build_cumulative(conn, brand_id, dedicated=dedicated)
            if dedicated:
                await _set_cumulative_triggers(conn, enabled=True)
            await conn.execute("reset session_replication_role")
            progress(f"  vacuum analyze ({time.monotonic() - started:.0f}s)")
            await _vacuum(conn)
        else:
            assert found is not None
            # Bench data from before the rollup: the migration has just filled it (if it is short,
            # rebuild it). After any migration (new tables, indexes, rewritten rows), vacuum again:
            # index-only scans need the visibility map.
            rebuilt = await _cumulative_rows(conn, found[0]) != EXPECTED_ROWS
            if rebuilt:
                progress("  cumulative totals incomplete: rebuilding them")
                await _build_cumulative(conn, found[0], dedicated=dedicated)
            if rebuilt or applied:
                progress(f"  vacuum analyze after {', '.join(applied) or 'the rebuild'}")
                await _vacuum(conn)
        found = await _find_brand(conn)
        assert found is not None
        brand_id, org_id = found
        rows, ads, classified = await _counts(conn, brand_id)
        cur = await conn.execute(
            "select min(date) as first, max(date) as last from meta_ads_performance where brand_id = %s",
            (brand_id,),
        )
        span = await cur.fetchone()
        assert span is not None
    finally:
        await conn.close()
    async with db.as_owner() as owner:
        caller = await find_caller(owner, email=BENCH_EMAIL)
    return BenchData(
        organization_id=org_id,
        brand_id=brand_id,
        caller=caller,
        first_day=span["first"],
        last_day=span["last"],
        performance_rows=rows,
        ads=ads,
        classified_ads=classified,
        generated=generated,
        seconds=time.monotonic() - started,
    )


async def _main(regenerate: bool) -> None:
    url, embedded = bench_database_url()
    print(
        f"bench database: {'embedded ' + str(default_pgdata(get_settings())) if embedded else 'DATABASE_URL'}"
    )
    async with Database(url, max_size=4) as db:
        data = await ensure_bench_data(db, url, dedicated=embedded, regenerate=regenerate)
    state = "generated" if data.generated else "already present"
    print(
        f"{BENCH_BRAND}: {data.performance_rows:,} performance rows, {data.ads:,} ads, "
        f"{data.classified_ads:,} classified, {data.first_day} to {data.last_day} ({state}, {data.seconds:.0f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--regenerate", action="store_true", help="drop and regenerate the bench data")
    args = parser.parse_args()
    asyncio.run(_main(args.regenerate))


if __name__ == "__main__":
    main()
