"""Deterministic demo data: two agencies, four DTC brands, 90 days of Meta ads, and demo users."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from db.pool import Conn, Database
from services.demo.catalogue import (
    _CAMPAIGNS,
    _COLUMNS,
    _CONCEPTS,
    _FAQ,
    _FIRST_NAMES,
    _HOOKS,
    _NOTES,
    _REVIEWS,
    _STATUS_WEIGHTS,
    _STYLES,
    _TEMPLATES,
    _TONES,
    ADS_PER_BRAND,
    AWARENESS_LEVELS,
    BRANDS,
    CONGRUENCE_DIMENSIONS,
    CONGRUENCE_STATUSES,
    DEMO_ORGANIZATIONS,
    DEMO_USERS,
    HOOK_CATEGORIES,
    PROMPT_VERSION,
    REVIEWS_PER_PRODUCT,
    WINDOW_DAYS,
    DemoUser,
    _Brand,
    _Product,
    demo_template_id,
)
from services.platform.accounts import add_user, create_organization
from services.templates.library import set_reviewer, store_demo_images
from settings import Settings, get_settings

ANALYSIS_METHOD = "demo-seed"
"""The demo pages' analyses are written with the demo, not read by a model or the offline rules."""
COPY_PATTERNS = ("Benefit-led headline", "Social proof above the fold", "Risk-reversal guarantee",
                 "FAQ handles objections")  # fmt: skip
TEMPLATE_REVIEWERS = ("maya@northwind.example",)
"""Demo users who review the template library (a platform role)."""


class DemoSummary(BaseModel):
    """What `seed_demo` wrote; all zero with `skipped=True` when the database already had organizations."""

    organizations: int
    brands: list[str]
    products: int
    ads: int
    performance_rows: int
    classified_ads: int
    unclassified_ads: int
    landing_pages: int
    reviews: int
    templates: int
    users: list[DemoUser]
    skipped: bool = False


_Rows = dict[str, list[tuple[Any, ...]]]


class _Listing(NamedTuple):
    """A product as stored: its row id, its landing page's id and URL."""

    product: _Product
    product_id: UUID
    landing_page_id: UUID
    url: str


@dataclass(frozen=True)
class _AdPlan:
    """An ad's hidden performance profile; its daily rows are drawn from it."""

    meta_ad_id: str
    brand_id: UUID
    organization_id: UUID
    is_video: bool
    launch: date
    pause: date | None
    daily_spend: float
    cpm: float
    hook_rate: float
    hold_rate: float
    ctr: float
    cvr: float
    aov: float


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _digits(key: str, n: int) -> str:
    """A stable numeric id from a key (Python's own hash() is salted per process)."""
    return str(int(_sha256(key), 16))[:n]


def _count(rng: random.Random, n: int, p: float) -> int:
    """A binomial draw: Poisson inversion for small means, a clamped normal for large ones."""
    mean = n * p
    if mean <= 0:
        return 0
    if mean < 30:
        k, u = 0, rng.random()
        prob = cum = math.exp(-mean)
        while u > cum and k < n:
            k += 1
            prob *= mean / k
            cum += prob
        return k
    return max(0, min(n, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


def _daily_rows(plan: _AdPlan, rng: random.Random, start: date, end: date) -> Iterator[tuple[Any, ...]]:
    """One row per live day; with age, hook rate and CTR fade while frequency climbs."""
    day, stop = max(plan.launch, start), plan.pause or end + timedelta(days=1)
    while day < stop:
        age = (day - plan.launch).days
        fatigue = max(0.55, 1 - 0.006 * age)
        ramp = min(1.0, (age + 1) / 3)  # the learning phase spends less
        spend = round(max(0.3, plan.daily_spend * ramp * rng.lognormvariate(0, 0.35)), 2)
        cpm = min(40.0, max(8.0, plan.cpm * (1 + 0.003 * age) * rng.lognormvariate(0, 0.12)))
        impressions = max(1, int(spend / cpm * 1000))
        frequency = min(1.02 + 0.025 * age, 4.5) * rng.uniform(0.97, 1.03)
        reach = max(1, min(impressions, int(impressions / frequency)))
        ctr = min(0.03, max(0.004, plan.ctr * fatigue * rng.lognormvariate(0, 0.15)))
        link_clicks = _count(rng, impressions, ctr)
        clicks = link_clicks + _count(rng, impressions - link_clicks, ctr * rng.uniform(0.3, 0.8))
        add_to_carts = _count(rng, link_clicks, min(0.5, plan.cvr * 3))
        purchases = _count(rng, add_to_carts, 1 / 3)
        value = round(purchases * plan.aov * rng.uniform(0.85, 1.2), 2)
        video = [0] * 6
        if plan.is_video:
            hook_rate = min(0.5, max(0.08, plan.hook_rate * fatigue * rng.lognormvariate(0, 0.08)))
            views = _count(rng, impressions, hook_rate)
            thruplays = _count(rng, views, plan.hold_rate)
            p25 = thruplays + _count(rng, views - thruplays, rng.uniform(0.3, 0.5))
            p50 = thruplays + _count(rng, p25 - thruplays, rng.uniform(0.1, 0.3))
            p75 = _count(rng, thruplays, rng.uniform(0.55, 0.8))
            video = [views, thruplays, p25, p50, p75, _count(rng, p75, rng.uniform(0.5, 0.8))]
        counts = (impressions, reach, clicks, link_clicks, add_to_carts, purchases, value, *video)
        yield (plan.meta_ad_id, day, plan.brand_id, plan.organization_id, spend, *counts)
        day += timedelta(days=1)


async def _copy(conn: Conn, table: str, rows: Iterable[tuple[Any, ...]]) -> int:
    """Bulk-load rows with COPY; returns how many were written."""
    columns = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS[table]))
    statement = sql.SQL("copy {} ({}) from stdin").format(sql.Identifier(table), columns)
    n = 0
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)
            n += 1
    return n


async def _insert(conn: Conn, table: str, values: dict[str, Any]) -> UUID:
    """Insert one row; returns its id."""
    query = sql.SQL("insert into {} ({}) values ({}) returning id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    cur = await conn.execute(query, list(values.values()))
    row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


def _objections(p: _Product) -> list[dict[str, str]]:
    return [{"objection": q, "answer": a.format(p=p)} for q, a in _FAQ]


def _landing_page(brand: _Brand, p: _Product, testimonials: list[dict[str, Any]]) -> str:
    """The product page as a scraper would store it, in markdown."""
    bullets = "\n".join(f"- {b}" for b in p.benefits)
    quotes = "\n\n".join(f'> "{t["quote"]}" — {t["name"]}, verified buyer' for t in testimonials)
    faq = "\n\n".join(f"**{o['objection']}**\n{o['answer']}" for o in _objections(p))
    return (
        f"# {p.name}: {p.benefits[0]}\n\nMade for {p.who} dealing with {p.pain}. {p.claims[0]}.\n\n"
        f"**${p.price:.2f}** · {p.offer}\n\n## Why {brand.audience} love it\n\n{bullets}\n\n"
        f"## How it works\n\nThe root cause of {p.pain} is {p.cause}. {p.mechanism}.\n\n"
        f"## What customers say\n\n{quotes}\n\n## FAQ\n\n{faq}\n\n## Our guarantee\n\n"
        f"Try {p.name} for 60 days. If you don't see a difference, we refund you in full, no return needed.\n"
    )


async def _seed_brand(
    conn: Conn, rng: random.Random, brand: _Brand, org_id: UUID, today: date, rows: _Rows
) -> tuple[UUID, list[_Listing]]:
    """The brand, its products with pages and reviews, an offer variant, a persona and angles."""
    site = f"https://{brand.domain}"
    brand_id = await _insert(conn, "brands", {
        "organization_id": org_id, "name": brand.name, "brand_voice_tone": brand.voice, "website_url": site,
        "niche": brand.niche, "ad_library_url": f"https://www.facebook.com/ads/library/?q={_slug(brand.name)}",
    })  # fmt: skip
    listings = []
    for p in brand.products:
        url = f"{site}/products/{_slug(p.name)}"
        product_id = await _insert(conn, "products", {
            "brand_id": brand_id, "organization_id": org_id, "name": p.name, "price": p.price,
            "product_url": url, "description": f"{p.mechanism}. For {p.who}.",
        })  # fmt: skip
        quotes = [
            {"name": f"{rng.choice(_FIRST_NAMES)} {rng.choice('BDGKLMPRSTW')}.", "quote": quote, "rating": 5}
            for quote in (p.win_cap, f"{p.benefits[1]}. {p.claims[0]}, for real.")
        ]
        markdown = _landing_page(brand, p, quotes)
        sample_hooks = [_HOOKS[c][0][0].format(p=p) for c in ("problem_callout", "testimonial", "question")]
        belief_first = {"mechanism": p.mechanism, "ump": f"The root cause of {p.pain} is {p.cause}.",
                        "ums": p.mechanism, "desires": [p.win, *p.benefits[:2]],
                        "sample_hooks": sample_hooks}  # fmt: skip
        sections = {"benefits": p.benefits, "persona_signals": [p.who, brand.audience, f"fed up with {p.pain}"],
                    "copy_patterns": COPY_PATTERNS, "objection_handling": _objections(p),
                    "belief_first_analysis": belief_first, "testimonials": quotes}  # fmt: skip
        lp_id = await _insert(conn, "brand_landing_pages", {
            "brand_id": brand_id, "organization_id": org_id, "product_id": product_id, "url": url,
            "title": f"{p.name} | {brand.name}", "raw_markdown": markdown, "content_hash": _sha256(markdown),
            **{column: Jsonb(value) for column, value in sections.items()},
        })  # fmt: skip
        # The page's analysis too, so /landing_page_analyses lists it and /blueprint rebuilds it offline.
        rows["landing_page_analyses"].append(
            (org_id, brand_id, lp_id, url, Jsonb(sections), Jsonb({}), ANALYSIS_METHOD)
        )
        listings.append(_Listing(p, product_id, lp_id, url))
        ratings, asin = [], "B0" + _digits(p.name, 8)
        for _ in range(REVIEWS_PER_PRODUCT):
            rating = rng.choices((5, 4, 3, 2, 1), weights=(55, 22, 10, 6, 7))[0]
            titles, openings, closings = _REVIEWS["good" if rating >= 4 else "bad"]
            title, text = rng.choice(titles), f"{rng.choice(openings)} {rng.choice(closings)}".strip()
            body = text.format(p=p, weeks=rng.randint(2, 10), benefit=rng.choice(p.benefits).lower())
            review = (asin, rating, title, body, today - timedelta(days=rng.randint(3, 365)), True)
            rows["amazon_reviews"].append((brand_id, org_id, product_id, *review))
            ratings.append(rating)
        analysis = {
            "review_count": len(ratings), "average_rating": round(sum(ratings) / len(ratings), 2),
            "rating_distribution": {str(s): ratings.count(s) for s in range(1, 6)}, "themes": p.benefits,
            "pain_points": [p.pain], "desires": [p.win],
            "objections": ["Price", "Slow to see results", "Subscription cancellation"],
        }  # fmt: skip
        rows["amazon_review_analysis"].append((brand_id, org_id, product_id, Jsonb(analysis)))
        if p is brand.products[0]:
            rows["product_offer_variants"].append((
                product_id, org_id, f"{p.name} for {p.who}", url, Jsonb(p.benefits), Jsonb([p.pain]),
                Jsonb([q for q, _ in _FAQ]), Jsonb({"name": p.mechanism, "root_cause": p.cause}),
                Jsonb([p.win]), Jsonb(sample_hooks), lp_id,
            ))  # fmt: skip
    lead = brand.products[0]
    rows["personas_4d"].append((
        brand_id, org_id, brand.persona,
        Jsonb({"audience": brand.audience, "income": "$60-150k", "where": "US"}),
        Jsonb({"values": ["proof over hype", "convenience"], "voice": brand.voice}),
        Jsonb([p.pain for p in brand.products]), Jsonb([p.win for p in brand.products]),
        Jsonb(["Price", "Has tried everything before"]), Jsonb([lead.win, f"no more {lead.pain}"]),
        "problem_aware", Jsonb({"reviews": 0.5, "landing_pages": 0.3, "ads": 0.2}),
    ))  # fmt: skip
    rows["angles"] += [(brand_id, org_id, name, text) for name, text in brand.angles]
    return brand_id, listings


def _classification(
    rng: random.Random, brand: _Brand, p: _Product, fmt: str, category: str, style: str, campaign: str
) -> dict[str, Any]:
    """What the classifier would say about one ad (its congruence also drives the conversion rate)."""
    templates, visual, _, _ = _HOOKS[category]
    spoken = rng.choice(templates).format(p=p) if fmt == "video" and rng.random() < 0.85 else None
    overlay = rng.choice(templates).format(p=p) if spoken is None or rng.random() < 0.6 else None
    hooks = {
        "spoken": {"text": spoken, "category": category} if spoken else None,
        "overlay": {"text": overlay, "category": category} if overlay else None,
        "visual": {"text": visual.format(p=p), "category": category},
    }
    angle = rng.choice(brand.angles)[0]
    benefit, other_benefit = rng.sample(p.benefits, 2)
    claim, other_claim = rng.sample(p.claims, 2)
    texts = {  # dimension: (what the ad says, the page when aligned, the page when weak)
        "product": (p.name, p.name, f"{brand.name} best-sellers collection"),
        "offer": (p.offer, p.offer, "Subscribe and save 10%"),
        "angle": (angle, angle, next(a for a, _ in brand.angles if a != angle)),
        "benefits": (benefit, benefit, other_benefit),
        "claims": (claim, claim, other_claim),
        "audience": (p.who, p.who, brand.audience),
        "voice_tone": (_TONES[style], brand.voice, brand.voice),
    }
    components = []
    for dim in CONGRUENCE_DIMENSIONS:
        status = rng.choices(CONGRUENCE_STATUSES, weights=_STATUS_WEIGHTS[dim])[0]
        ad, aligned, weak = texts[dim]
        page = {"aligned": aligned, "weak": weak, "missing": ""}[status]
        note = _NOTES[status]
        components.append({"dimension": dim, "status": status, "ad": ad, "landing_page": page, "note": note})
    statuses = Counter(c["status"] for c in components)
    retargeting = campaign.startswith("Retargeting")
    awareness = rng.choices(AWARENESS_LEVELS, weights=(0, 0, 1, 3, 2) if retargeting else (2, 4, 3, 1, 0))[0]
    opening = overlay or spoken or ""
    beats = [(visual.format(p=p), opening), (p.scene, None), (f"Close-up of {p.name}", benefit),
             ("Creator explains how it works", claim), (f"Result: {p.win}", None),
             ("End card", p.offer)]  # fmt: skip
    n_beats = rng.randint(3, 6) if fmt == "video" else 1
    transcript = f"{spoken} I've used {p.name} for {p.days} days and {p.win}. It {benefit.lower()}."
    return {
        "awareness_level": awareness,
        "congruence_score": round((statuses["aligned"] + 0.5 * statuses["weak"]) / 7, 3),
        "congruence_components": components, "hooks": hooks, "benefits": [benefit], "angles": [angle],
        "claims": [claim], "transcript": transcript if spoken else None,
        "storyboard": [{"t": (0.0, 3.0, 7.0, 12.0, 18.0, 24.0)[i], "scene": scene, "text_overlay": text}
                       for i, (scene, text) in enumerate(beats[:n_beats])],
        "opening": opening,
    }  # fmt: skip


def _plan_ads(
    rng: random.Random, brand: _Brand, brand_id: UUID, org_id: UUID, listings: list[_Listing],
    start: date, end: date, rows: _Rows, taken: set[str],
) -> list[_AdPlan]:  # fmt: skip
    """The brand's ads with destinations, product matches and (most of) their classifications."""
    account = f"act_{_digits(brand.name, 15)}"
    versions: Counter[str] = Counter()
    ads: list[tuple[_AdPlan, float, tuple[Any, ...]]] = []
    for _ in range(ADS_PER_BRAND):
        p, product_id, lp_id, url = rng.choices(listings, weights=(5, 3, 2)[: len(listings)])[0]
        fmt = rng.choices(("video", "image", "carousel"), weights=(65, 30, 5))[0]
        category, style = rng.choice(HOOK_CATEGORIES), rng.choice(_STYLES[fmt])
        campaign, adsets, _, cpm_x, cvr_x = rng.choices(_CAMPAIGNS, weights=[c[2] for c in _CAMPAIGNS])[0]
        ad_id = f"120210{rng.randrange(10**11, 10**12)}"
        while ad_id in taken:
            ad_id = f"120210{rng.randrange(10**11, 10**12)}"
        taken.add(ad_id)
        cls = _classification(rng, brand, p, fmt, category, style, campaign)
        # 30% launched before the window (live from its first day); some are paused along the way.
        launch = start + timedelta(days=rng.randint(-60, -1) if rng.random() < 0.3 else rng.randint(0, 84))
        pause = max(launch + timedelta(days=rng.randint(4, 45)), start + timedelta(days=rng.randint(3, 30)))
        pause_at = pause if rng.random() < 0.45 and pause <= end else None
        quality = rng.gauss(0, 1)  # better creatives win more of the budget (Meta's delivery does this)
        _, _, hook_x, ctr_x = _HOOKS[category]
        plan = _AdPlan(
            ad_id, brand_id, org_id, fmt == "video", launch, pause_at,
            daily_spend=12.0 * math.exp(1.45 * (0.5 * quality + 0.866 * rng.gauss(0, 1))),
            cpm=min(40.0, max(8.0, brand.cpm * cpm_x * rng.lognormvariate(0, 0.25))),
            hook_rate=0.26 * hook_x * math.exp(0.12 * quality + 0.08 * rng.gauss(0, 1)),
            hold_rate=rng.uniform(0.12, 0.38),
            ctr=0.011 * ctr_x * math.exp(0.12 * quality + 0.1 * rng.gauss(0, 1)),
            cvr=0.055 * cvr_x * (0.6 + 0.6 * cls["congruence_score"]) * rng.lognormvariate(0, 0.2),
            aov=p.price * rng.uniform(1.2, 1.7),
        )  # fmt: skip
        base = f"{p.code}_{style}_{_CONCEPTS[category]}"
        versions[base] += 1
        benefit, claim = cls["benefits"][0], cls["claims"][0]
        copy_text = f"{cls['opening']} {benefit}. {claim}. {p.offer}. Shop now."
        campaign_id = "2385" + _digits(f"{account}/{campaign}", 11)
        adset, video = rng.choice(adsets), fmt == "video"
        rows["meta_ads"].append((
            ad_id, brand_id, org_id, account, f"{base}_v{versions[base]}", campaign, campaign_id, adset,
            "2385" + _digits(f"{campaign_id}/{adset}", 11), fmt, copy_text,
            rng.choice((f"{p.name}: {benefit}", p.offer, f"{claim} | {p.name}")),
            f"https://demo.invalid/thumbs/{ad_id}.jpg", _digits(ad_id, 15) if video else None,
            f"https://demo.invalid/videos/{ad_id}.mp4" if video else None, "paused" if pause_at else "active",
            datetime.combine(launch, time(9 + rng.randint(0, 8)), UTC),
        ))  # fmt: skip
        utm = f"utm_source=facebook&utm_medium=paid_social&utm_campaign={_slug(campaign)}&utm_content={ad_id}"
        rows["meta_ad_destinations"].append((ad_id, org_id, f"{url}?{utm}", url))
        rows["meta_ad_product_matches"].append((ad_id, product_id, org_id, "url", 1.0))
        cls_row = (
            ad_id, brand_id, org_id, _sha256(ad_id + copy_text), PROMPT_VERSION, "demo", "demo-seed", fmt,
            cls["awareness_level"], cls["congruence_score"],
            *(Jsonb(cls[k]) for k in ("congruence_components", "hooks", "benefits", "angles", "claims")),
            cls["transcript"], Jsonb(cls["storyboard"]), lp_id,
        )  # fmt: skip
        live_days = ((pause_at or end + timedelta(days=1)) - max(launch, start)).days
        ads.append((plan, plan.daily_spend * live_days, cls_row))
    # ~15% stay unclassified, including two of the brand's big spenders: the backlog that matters.
    by_spend = sorted(range(len(ads)), key=lambda i: -ads[i][1])
    backlog = {by_spend[2], by_spend[5]}
    for i, (_, _, cls_row) in enumerate(ads):
        if i not in backlog and rng.random() < 0.88:
            rows["ad_creative_classifications"].append(cls_row)
    return [plan for plan, _, _ in ads]


async def seed_demo(
    db: Database,
    *,
    seed: int = 7,
    today: date | None = None,
    if_empty: bool = False,
    progress: Callable[[str], None] | None = None,
    settings: Settings | None = None,
) -> DemoSummary:
    """Replace the demo organizations with fresh, deterministic data: 90 days of ads ending yesterday.

    Same `seed` and `today` give the same names and figures. With `if_empty`, a database that already
    has organizations is left untouched (`skipped=True`, the demo users still listed).
    """
    today = today or date.today()
    start, end = today - timedelta(days=WINDOW_DAYS), today - timedelta(days=1)
    rng = random.Random(seed)
    step = progress or (lambda _: None)
    rows: _Rows = {table: [] for table in _COLUMNS}
    async with db.as_owner() as conn:
        if if_empty:
            cur = await conn.execute("select exists (select 1 from organizations) as taken")
            found = await cur.fetchone()
            if found is not None and found["taken"]:
                return DemoSummary(
                    organizations=0, brands=[], products=0, ads=0, performance_rows=0, classified_ads=0,
                    unclassified_ads=0, landing_pages=0, reviews=0, templates=0, users=list(DEMO_USERS),
                    skipped=True,
                )  # fmt: skip
        step("organizations")
        await conn.execute("delete from organizations where name = any(%s)", (list(DEMO_ORGANIZATIONS),))
        await conn.execute("delete from scraped_templates where source = 'demo'")
        org_ids = {name: await create_organization(conn, name=name) for name in DEMO_ORGANIZATIONS}
        step("users")
        for u in DEMO_USERS:
            org_id = org_ids[u.organization]
            await add_user(conn, email=u.email, organization_id=org_id, role=u.role, password=u.password)
        for email in TEMPLATE_REVIEWERS:
            await set_reviewer(conn, email=email)
        plans: list[_AdPlan] = []
        taken: set[str] = set()
        for brand in BRANDS:
            step(f"brand {brand.name}")
            org_id = org_ids[brand.organization]
            brand_id, listings = await _seed_brand(conn, rng, brand, org_id, today, rows)
            plans += _plan_ads(rng, brand, brand_id, org_id, listings, start, end, rows, taken)
        step("template images")
        catalogue = [(slug, name, category, fmt) for slug, name, category, fmt, *_ in _TEMPLATES]
        images = await store_demo_images(settings or get_settings(), catalogue)
        cur = await conn.execute(  # the same image imported by someone else stays theirs
            "select sha256 from scraped_templates where sha256 = any(%s)",
            ([i.sha256 for i in images.values()],),
        )
        imported = {row["sha256"] for row in await cur.fetchall()}
        rows["scraped_templates"] = [
            (demo_template_id(slug), status, name, category, fmt, Jsonb([category, fmt]), "demo", f"https://demo.invalid/templates/{slug}",
             description, image.path, image.path, image.sha256, image.content_type, image.bytes, image.width,
             image.height)
            for slug, name, category, fmt, status, description in _TEMPLATES
            if (image := images[slug]).sha256 not in imported
        ]  # fmt: skip
        rows["notifications"] = [
            (org_id, "welcome", "system", "Welcome to ViralTracker",
             "Demo data is loaded: 90 days of Meta ads for your brands. Try /brands.", Jsonb({"demo": True}))
            for org_id in org_ids.values()
        ]  # fmt: skip
        written: dict[str, int] = {}
        for table in _COLUMNS:
            step(
                "performance"
                if table == "meta_ads_performance"
                else table.removeprefix("meta_").replace("_", " ")
            )
            source: Iterable[tuple[Any, ...]] = rows[table]
            if table == "meta_ads_performance":
                source = (row for plan in plans for row in _daily_rows(plan, rng, start, end))
            written[table] = await _copy(conn, table, source)
    n_products = sum(len(b.products) for b in BRANDS)
    classified = written["ad_creative_classifications"]
    return DemoSummary(
        organizations=len(org_ids), brands=[b.name for b in BRANDS], products=n_products,
        ads=written["meta_ads"], performance_rows=written["meta_ads_performance"], classified_ads=classified,
        unclassified_ads=written["meta_ads"] - classified, landing_pages=n_products,
        reviews=written["amazon_reviews"], templates=written["scraped_templates"], users=list(DEMO_USERS),
    )  # fmt: skip
