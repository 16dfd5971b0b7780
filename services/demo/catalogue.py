"""What the demo data is made of: brands, products, hooks, copy and review phrases (data, not logic)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from pydantic import BaseModel

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
# (slug, name, category, format, status, description): a curator's note on what the layout shows and
# what it suits, the words the offline AI match compares with a product's.
_TEMPLATES = (
    ("ugc-unboxing-reaction", "UGC unboxing reaction", "ugc", "video", "approved",
     "A creator opens the box on camera and reacts to the taste, texture and smell: made for treats, "
     "gummies, chews and snacks people try on the spot."),
    ("founder-story-testimonial", "Founder story testimonial", "testimonial", "video", "approved",
     "The founder tells why they made the product, the problem they lived with and what the formula "
     "changed, to camera in one take."),
    ("five-star-review-card", "Five-star review card", "testimonial", "image", "approved",
     "A verified customer's five-star review over the product shot: social proof for supplements and "
     "skincare, where buyers want to hear from people like them."),
    ("split-screen-before-after", "Split-screen before/after", "before_after", "image", "approved",
     "Before on the left, after on the right: a stiff senior dog at the bottom of the stairs next to "
     "the same dog running, or dull skin with dark spots next to bright, even skin."),
    ("thirty-day-transformation", "30-day transformation timeline", "before_after", "video", "pending",
     "Day 1, day 14, day 30: the same dog, face or athlete filmed as the results build week by week."),
    ("three-reasons-listicle", "3 reasons listicle", "listicle", "image", "approved",
     "Three numbered reasons to switch, each a benefit in a few words: protein, sugar, taste, sleep."),
    ("us-vs-them-checklist", "Us vs them checklist", "listicle", "image", "approved",
     "Two columns of ticks and crosses comparing the product with the usual alternative: sugary "
     "sports drinks, chalky pills, melatonin or drugstore serums."),
    ("myth-vs-fact-carousel", "Myth vs fact carousel", "listicle", "carousel", "pending",
     "One myth per card, busted by the fact and the mechanism behind it, ending on the product."),
    ("bold-sale-sticker", "Bold sale sticker", "offer", "image", "approved",
     "The product with a big red sticker: save 25%, buy 2 get 1 free, a discount code or free shipping."),
    ("bundle-value-stack", "Bundle value stack", "offer", "image", "pending",
     "Everything in the bundle stacked up with its price crossed out: sampler packs, free gifts, "
     "subscribe and save."),
    ("street-interview-ugc", "Street interview", "ugc", "video", "approved",
     "A host stops runners and gym-goers on the street and asks them to taste the product and guess "
     "what is in it."),
    ("green-screen-reaction", "Green-screen reaction", "ugc", "video", "pending",
     "A creator in front of a screenshot of reviews or a news headline, reacting and explaining why "
     "they switched."),
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
    "landing_page_analyses": ("organization_id", "brand_id", "landing_page_id", "url", "sections", "errors",
                              "prompt_version"),
    "amazon_reviews": ("brand_id", "organization_id", "product_id", "asin", "rating", "title", "body",
                       "reviewed_on", "verified_purchase"),
    "amazon_review_analysis": ("brand_id", "organization_id", "product_id", "analysis"),
    "product_offer_variants": ("product_id", "organization_id", "name", "landing_page_url", "benefits",
                               "pain_points", "objections", "mechanism", "desires", "sample_hooks",
                               "source_landing_page_id"),
    "personas_4d": ("brand_id", "organization_id", "name", "demographics", "psychographics", "pains",
                    "desires", "objections", "language", "awareness_level", "source_breakdown"),
    "angles": ("brand_id", "organization_id", "name", "description"),
    "scraped_templates": ("id", "status", "name", "category", "format", "tags", "source", "source_url",
                          "description", "image_path", "thumbnail_path", "sha256", "content_type", "bytes",
                          "width", "height"),
    "notifications": ("organization_id", "type", "category", "title", "message", "metadata"),
}
# fmt: on


_TEMPLATE_IDS = UUID("6f1d2c9e-3b0a-5e8f-9a41-7c2d0b6e5f13")


def demo_template_id(slug: str) -> UUID:
    """A demo template's id: the same on every seed, so the help's example names one that exists."""
    return uuid5(_TEMPLATE_IDS, slug)


EXAMPLE_PENDING_TEMPLATE = demo_template_id("thirty-day-transformation")
"""The pending template `/review_templates`'s example names (its first 8 characters)."""
