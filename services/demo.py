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
from services.accounts import add_user, create_organization

WINDOW_DAYS = 90
ADS_PER_BRAND = 80
REVIEWS_PER_PRODUCT = 20
PROMPT_VERSION = "classify-v1"
AWARENESS_LEVELS = ("unaware", "problem_aware", "solution_aware", "product_aware", "most_aware")
CONGRUENCE_DIMENSIONS = ("product", "offer", "angle", "benefits", "claims", "audience", "voice_tone")
CONGRUENCE_STATUSES = ("aligned", "weak", "missing")
DEMO_ORGANIZATIONS = ("Northwind Growth", "Summit DTC")


class DemoUser(BaseModel):
    email: str
    password: str
    organization: str
    role: str


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


@dataclass(frozen=True)
class _Product:
    name: str
    code: str  # the ad-name prefix, e.g. JC_UGC_Testimonial_v3
    price: float
    who: str  # who it is for, plural
    pain: str
    win: str  # a customer's result, first person
    rival: str
    days: int  # days to a visible result
    offer: str
    cause: str
    mechanism: str
    scene: str  # the problem, as a shot
    benefits: tuple[str, ...]
    claims: tuple[str, ...]

    @property
    def win_cap(self) -> str:
        return self.win[0].upper() + self.win[1:]


@dataclass(frozen=True)
class _Brand:
    name: str
    organization: str
    domain: str
    niche: str
    voice: str
    audience: str
    persona: str
    cpm: float  # typical CPM in dollars
    angles: tuple[tuple[str, str], ...]
    products: tuple[_Product, ...]


# fmt: off
DEMO_USERS = (
    DemoUser(email="maya@northwind.example", password="northwind-demo", organization="Northwind Growth",
             role="admin"),
    DemoUser(email="sam@northwind.example", password="northwind-demo", organization="Northwind Growth",
             role="member"),
    DemoUser(email="leo@summit.example", password="summit-demo", organization="Summit DTC", role="admin"),
)
BRANDS = (
    _Brand("Acme Pets", "Northwind Growth", "acmepets.example", "pet supplements",
           "Warm, playful and vet-informed; talks to dog parents like a friend", "dog parents",
           "Devoted senior-dog parent", 14.0,
           (("Healthier, happier years", "More good years with a dog who feels like themselves"),
            ("Vet-formulated trust", "Formulas built with veterinarians, dosed like the studies"),
            ("A treat, not a pill", "Dogs beg for it, so daily use actually happens")), (
        _Product("Joint Chews", "JC", 39.0, "senior dogs", "stiff, achy joints",
                 "my 11-year-old lab jumps in the car again", "chalky glucosamine pills", 30,
                 "Save 25% on your first order", "cartilage wearing down faster than it rebuilds",
                 "Green-lipped mussel, glucosamine and MSM cushion and rebuild cartilage",
                 "Senior dog hesitating at the bottom of the stairs",
                 ("Supports hip and joint mobility", "Tastes like a treat, so no pill pockets",
                  "Delivers vet-formulated doses of glucosamine"),
                 ("Visible mobility in 30 days", "Vet formulated", "Made in the USA")),
        _Product("Calming Bites", "CB", 34.0, "anxious dogs", "storm and separation anxiety",
                 "my rescue finally sleeps through thunderstorms", "prescription sedatives", 7,
                 "Buy 2, get 1 free", "a nervous system stuck in fight-or-flight",
                 "L-theanine, chamomile and hemp seed calm the nervous system without sedation",
                 "Dog shaking under the bed during a thunderstorm",
                 ("Calms nerves without drowsiness", "Works within 30 to 60 minutes",
                  "Keeps dogs relaxed during storms, fireworks and car rides"),
                 ("Calmer in 30 minutes", "Non-drowsy formula", "Vet recommended")),
        _Product("Skin & Coat Oil", "SC", 29.0, "itchy dogs", "itchy skin and constant scratching",
                 "my frenchie stopped scratching all night", "oatmeal shampoos", 21,
                 "Free shipping and 20% off subscriptions", "a diet low in omega-3s",
                 "Wild Alaskan salmon and pollock oil deliver EPA and DHA straight to the skin",
                 "Dog scratching nonstop on the living room rug",
                 ("Soothes itchy, flaky skin", "Brings back a soft, shiny coat",
                  "Pumps straight onto food with zero mess"),
                 ("Less scratching in 3 weeks", "Wild-caught and third-party tested", "Reduces shedding")))),
    _Brand("Bloom Botanicals", "Northwind Growth", "bloombotanicals.example", "clean skincare",
           "Calm, science-backed and inclusive; confident without hype", "women 28-55",
           "Ingredient-savvy minimalist", 22.0,
           (("Clean science", "Clinical actives without the irritation or the fillers"),
            ("Skin confidence", "Go bare-faced and feel good about it"),
            ("Luxury results for less", "Department-store results at a third of the price")), (
        _Product("Vitamin C Serum", "VC", 48.0, "women over 30", "dull skin and dark spots",
                 "my dark spots faded before my wedding", "drugstore serums that oxidize", 28,
                 "Free travel-size cleanser with every serum", "sun damage and slowing cell turnover",
                 "Stabilized 15% L-ascorbic acid with ferulic acid in an airless pump",
                 "Woman frowning at dark spots in a bathroom mirror",
                 ("Brightens dull skin in 2 weeks", "Fades dark spots and sun damage",
                  "Stays potent in an oxidation-proof airless pump"),
                 ("Visibly brighter skin in 14 days", "Dermatologist tested", "Fragrance free")),
        _Product("Night Repair Cream", "NR", 62.0, "women over 40", "fine lines and dry, tired skin",
                 "I wake up with skin that looks rested", "$200 department-store creams", 30,
                 "Save 20% with code GLOW20", "overnight moisture loss and slowing collagen",
                 "Encapsulated retinal and peptides release slowly overnight",
                 "Close-up of fine lines around the eyes in morning light",
                 ("Smooths fine lines while you sleep", "Locks in moisture for 24 hours",
                  "Uses gentle retinal that won't irritate"),
                 ("Fewer visible fine lines in 4 weeks", "Non-irritating retinal", "Dermatologist tested")))),
    _Brand("Peak Fuel", "Summit DTC", "peakfuel.example", "sports nutrition",
           "Direct, energetic and no-nonsense; speaks like a coach", "runners and lifters",
           "Weekend endurance warrior", 17.0,
           (("Performance without sugar", "Fuel that works without the sugar crash"),
            ("Coach-approved", "What pro coaches hand their athletes"),
            ("Taste first", "Nutrition you actually look forward to")), (
        _Product("Electrolyte Mix", "EL", 45.0, "endurance athletes", "mid-run cramps and 3pm crashes",
                 "I finished my first marathon without a single cramp", "sugary sports drinks", 7,
                 "Free sample pack with your first order", "losing sodium faster than water replaces it",
                 "1000 mg sodium with potassium and magnesium in a clinically backed ratio, zero sugar",
                 "Runner grabbing a calf mid-run on a hot road",
                 ("Prevents cramps on long runs and hot workouts", "Hydrates faster than water alone",
                  "Contains zero sugar and no artificial colors"),
                 ("3x the sodium of leading sports drinks", "Zero sugar", "Informed Sport certified")),
        _Product("Protein Bars", "PB", 32.0, "lifters", "chalky bars that taste like cardboard",
                 "I actually look forward to my post-workout snack", "candy bars with a protein label", 14,
                 "Try the 12-flavor sampler for $19", "cheap protein blends and sugar alcohols",
                 "Whey isolate and real nut butter, baked soft and sweetened with monk fruit",
                 "Athlete grimacing while chewing a dry protein bar",
                 ("Packs 20 g of protein with 5 g of sugar", "Tastes like a bakery cookie bar",
                  "Keeps you full for hours without bloating"),
                 ("20 g protein per bar", "No sugar alcohols", "Gluten free")))),
    _Brand("Lumen Sleep", "Summit DTC", "lumensleep.example", "sleep and wellness",
           "Soft, reassuring and evidence-led; never preachy", "stressed professionals",
           "Wired-and-tired professional", 19.0,
           (("Natural sleep, no melatonin", "Fall asleep naturally and wake up clear"),
            ("Wake up refreshed", "Mornings that feel like a fresh start")), (
        _Product("Magnesium Gummies", "MG", 29.0, "light sleepers", "lying awake at 2am with a racing mind",
                 "I fall asleep in minutes instead of hours", "melatonin that leaves you groggy", 14,
                 "Subscribe and save 30% on your first month",
                 "low magnesium keeping the nervous system wired",
                 "Magnesium glycinate, L-theanine and tart cherry support the body's own sleep signals",
                 "Phone showing 2:13 AM in a dark bedroom",
                 ("Helps you fall asleep faster", "Lets you wake up without grogginess",
                  "Uses gentle magnesium glycinate, not melatonin"),
                 ("Fall asleep 2x faster", "Melatonin free", "Third-party tested")),
        _Product("Weighted Eye Mask", "WM", 39.0, "shift workers and travelers",
                 "light and screens keeping you up", "I sleep through my partner's 5am alarm now",
                 "flimsy airline masks", 3, "Free silk pouch with every mask",
                 "light leaking in and a tense face",
                 "Contoured 100% blackout cups with gentle weighted pressure",
                 "Street light leaking through blinds onto a sleeper's face",
                 ("Blocks 100% of light without pressing on your eyes",
                  "Relaxes a tense face with gentle weight", "Stays on all night, even for side sleepers"),
                 ("100% blackout", "Deeper sleep in 3 nights", "Machine washable")))),
)
# Per category: (spoken/overlay hook templates, opening visual, hook-rate multiplier, CTR multiplier).
# Problem callouts, testimonials and before/afters stop the scroll; offers hook less but get the click.
_HOOKS: dict[str, tuple[tuple[str, ...], str, float, float]] = {
    "question": (("Still dealing with {p.pain}?", "Why does nobody talk about {p.pain}?"),
                 "Creator holds {p.name} up to the camera with a puzzled look", 1.0, 0.95),
    "bold_claim": (("{p.claims[0]}. Or your money back.", "This is the last {p.name} you'll ever buy."),
                   "Hero shot of {p.name} on a bright seamless background", 0.95, 1.0),
    "problem_callout": (("Dealing with {p.pain}? Stop scrolling.",
                         "This is for anyone fed up with {p.pain}."), "{p.scene}", 1.3, 1.0),
    "social_proof": (("40,000 {p.who} switched to {p.name} this year.",
                      "Rated 4.8 stars by 12,000 customers."),
                     "Wall of 5-star reviews scrolling over {p.name}", 1.05, 1.05),
    "curiosity": (("The real reason behind {p.pain}.", "I didn't believe this until I tried it."),
                  "Extreme close-up of {p.name} being opened", 1.1, 0.9),
    "demonstration": (("Watch what happens {p.days} days into {p.name}.",
                       "Here's exactly how {p.name} works."),
                      "Hands using {p.name} on a kitchen counter", 1.0, 1.05),
    "testimonial": (("I was skeptical, but {p.win}.", "Honestly? {p.win_cap}."),
                    "Customer filming a selfie video in the car", 1.25, 1.05),
    "offer": (("{p.offer}. Ends Sunday.", "Try {p.name} risk-free: {p.offer}."),
              "{p.name} with a bold red sale sticker", 0.8, 1.35),
    "before_after": (("Day 1 vs day {p.days} on {p.name}.", "Before {p.name}, and after {p.days} days."),
                     "Split screen: before vs after {p.days} days", 1.3, 1.1),
    "us_vs_them": (("Why {p.who} are ditching {p.rival} for {p.name}.",
                    "{p.name} vs {p.rival}: not even close."),
                   "Side-by-side of {p.name} and {p.rival}", 0.95, 1.0),
}
HOOK_CATEGORIES = tuple(_HOOKS)
_CONCEPTS = dict(zip(HOOK_CATEGORIES, ("Question", "Claim", "PainPoint", "SocialProof", "Curiosity", "Demo",
                                       "Testimonial", "Offer", "BeforeAfter", "UsVsThem"), strict=True))
_STYLES = {"video": ("UGC", "Founder", "Podcast", "Street", "Unboxing"),
           "image": ("Static", "Meme", "Review", "Comparison"), "carousel": ("Carousel",)}
_TONES = {"UGC": "casual first-person UGC", "Founder": "earnest founder story", "Podcast": "conversational",
          "Street": "high-energy street interview", "Unboxing": "excited and casual",
          "Static": "clean and direct", "Meme": "irreverent meme humour", "Review": "plain customer voice",
          "Comparison": "matter-of-fact", "Carousel": "informative"}
# (campaign, adsets, share of ads, CPM multiplier, conversion multiplier)
_CAMPAIGNS = (
    ("Prospecting - Broad", ("Broad US 25-54", "Advantage+ Audience"), 35, 1.0, 1.0),
    ("Prospecting - Interest Stack", ("Interest stack A", "Interest stack B"), 12, 1.1, 0.9),
    ("Creative Testing - CBO", ("Test cell 1", "Test cell 2", "Test cell 3"), 18, 1.0, 0.95),
    ("ASC+ Scaling", ("ASC+ all audiences",), 22, 0.9, 1.15),
    ("Retargeting - 7d", ("Site visitors 7d", "Add to cart 14d"), 13, 1.4, 1.7),
)
# (aligned, weak, missing) weights per dimension: offers and claims drift from the page most often.
_STATUS_WEIGHTS = {"product": (92, 6, 2), "offer": (45, 30, 25), "angle": (75, 20, 5),
                   "benefits": (75, 20, 5), "claims": (50, 30, 20), "audience": (80, 15, 5),
                   "voice_tone": (80, 18, 2)}
_NOTES = {"aligned": "The landing page says the same thing above the fold.",
          "weak": "The page touches on it, but in different words or far below the fold.",
          "missing": "The landing page never mentions this, so the click loses the thread."}
_TEMPLATES = (  # (slug, name, category, format, status)
    ("ugc-unboxing-reaction", "UGC unboxing reaction", "ugc", "video", "approved"),
    ("founder-story-testimonial", "Founder story testimonial", "testimonial", "video", "approved"),
    ("five-star-review-card", "Five-star review card", "testimonial", "image", "approved"),
    ("split-screen-before-after", "Split-screen before/after", "before_after", "image", "approved"),
    ("thirty-day-transformation", "30-day transformation timeline", "before_after", "video", "pending"),
    ("three-reasons-listicle", "3 reasons listicle", "listicle", "image", "approved"),
    ("us-vs-them-checklist", "Us vs them checklist", "listicle", "image", "approved"),
    ("myth-vs-fact-carousel", "Myth vs fact carousel", "listicle", "carousel", "pending"),
    ("bold-sale-sticker", "Bold sale sticker", "offer", "image", "approved"),
    ("bundle-value-stack", "Bundle value stack", "offer", "image", "pending"),
    ("street-interview-ugc", "Street interview", "ugc", "video", "approved"),
    ("green-screen-reaction", "Green-screen reaction", "ugc", "video", "pending"),
)
_FIRST_NAMES = ("Jess", "Marcus", "Priya", "Dana", "Tom", "Aisha", "Chris", "Elena", "Sam", "Kelly",
                "Omar", "Rachel", "Ben", "Nina", "Luis", "Hannah")
# A review is a title, an opening and a closing, drawn separately: (titles, openings, closings).
_REVIEWS = {
    "good": (("Game changer", "Works as promised", "Reordering!", "Finally", "Worth it", "Five stars"),
             ("{p.win_cap}.", "Been using {p.name} for {weeks} weeks. It really {benefit}.",
              "Skeptical at first, but {p.win}.", "Finally something that helps with {p.pain}."),
             ("Worth every penny.", "Already on subscription.", "{p.claims[0]}, and you can tell.",
              "Telling everyone I know.", "")),
    "bad": (("Didn't work for us", "Too expensive", "Meh", "Hard to cancel", "Not for us"),
            ("No real difference with {p.pain} after {weeks} weeks.", "Pricey for what you get.",
             "Helped a little, but not the miracle the ads promise.",
             "{p.name} itself is fine, but cancelling took three emails."),
            ("Shipping took 9 days.", "Won't reorder.", "Maybe it works for others.", "")),
}
_FAQ = (("How soon will I see results?", "Most customers notice a difference within {p.days} days."),
        ("Is it safe?", "Yes. {p.claims[1]}, and every batch is third-party tested."),
        ("Can I cancel my subscription?", "Anytime, in two clicks. No calls, no fees."),
        ("What if it doesn't work?", "You're covered by our 60-day money-back guarantee."))
# Rows are built as tuples in this column order and bulk-loaded with COPY, in this (foreign-key) order.
_COLUMNS = {
    "meta_ads": ("meta_ad_id", "brand_id", "organization_id", "meta_ad_account_id", "name", "campaign",
                 "campaign_id", "adset", "adset_id", "format", "ad_copy", "headline", "thumbnail_url",
                 "video_id", "video_url", "status", "created_time"),
    "meta_ad_destinations": ("meta_ad_id", "organization_id", "url", "canonical_url"),
    "meta_ad_product_matches": ("meta_ad_id", "product_id", "organization_id", "match_method", "confidence"),
    "ad_creative_classifications": ("meta_ad_id", "brand_id", "organization_id", "input_hash",
                                    "prompt_version", "source", "model", "format", "awareness_level",
                                    "congruence_score", "congruence_components", "hooks", "benefits",
                                    "angles", "claims", "transcript", "storyboard", "landing_page_id"),
    "meta_ads_performance": ("meta_ad_id", "date", "brand_id", "organization_id", "spend", "impressions",
                             "reach", "clicks", "link_clicks", "add_to_carts", "purchases", "purchase_value",
                             "video_3s_views", "video_thruplays", "video_p25", "video_p50", "video_p75",
                             "video_p100"),
    "amazon_reviews": ("brand_id", "organization_id", "product_id", "asin", "rating", "title", "body",
                       "reviewed_on", "verified_purchase"),
    "amazon_review_analysis": ("brand_id", "organization_id", "product_id", "analysis"),
    "product_offer_variants": ("product_id", "organization_id", "name", "landing_page_url", "benefits",
                               "pain_points", "objections", "mechanism", "desires", "sample_hooks",
                               "source_landing_page_id"),
    "personas_4d": ("brand_id", "organization_id", "name", "demographics", "psychographics", "pains",
                    "desires", "objections", "language", "awareness_level", "source_breakdown"),
    "angles": ("brand_id", "organization_id", "name", "description"),
    "scraped_templates": ("status", "name", "category", "format", "tags", "source", "source_url",
                          "description", "image_path"),
    "notifications": ("organization_id", "type", "category", "title", "message", "metadata"),
}
# fmt: on

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
        lp_id = await _insert(conn, "brand_landing_pages", {
            "brand_id": brand_id, "organization_id": org_id, "product_id": product_id, "url": url,
            "title": f"{p.name} | {brand.name}", "raw_markdown": markdown, "content_hash": _sha256(markdown),
            "benefits": Jsonb(p.benefits),
            "persona_signals": Jsonb([p.who, brand.audience, f"fed up with {p.pain}"]),
            "copy_patterns": Jsonb(["Benefit-led headline", "Social proof above the fold",
                                    "Risk-reversal guarantee", "FAQ handles objections"]),
            "belief_first_analysis": Jsonb(belief_first), "objection_handling": Jsonb(_objections(p)),
            "testimonials": Jsonb(quotes),
        })  # fmt: skip
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
        plans: list[_AdPlan] = []
        taken: set[str] = set()
        for brand in BRANDS:
            step(f"brand {brand.name}")
            org_id = org_ids[brand.organization]
            brand_id, listings = await _seed_brand(conn, rng, brand, org_id, today, rows)
            plans += _plan_ads(rng, brand, brand_id, org_id, listings, start, end, rows, taken)
        rows["scraped_templates"] = [
            (status, name, category, fmt, Jsonb([category, fmt]), "demo", f"https://demo.invalid/templates/{slug}",
             f"{name}: a proven {category} layout for DTC {fmt} ads.", f"demo/templates/{slug}.png")
            for slug, name, category, fmt, status in _TEMPLATES
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
