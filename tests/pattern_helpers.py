"""Research with planted themes for pattern discovery tests: one brand, 'Barkwell', whose ad
analyses, review analyses and landing pages repeat four themes (and some noise), with one angle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db.jsonb import jsonb
from db.pool import Caller, Database
from services.research.patterns import PatternReport
from tests.research_helpers import insert, new_tenant

# theme -> [(kind, text)]: kind "ads" = ad copy analysis, "reviews" = review analysis, "lp" = landing page.
THEMES: dict[str, list[tuple[str, str]]] = {
    "joint": [("ads", "joint pain in senior dogs"), ("ads", "my old dog's stiff joints"),
              ("reviews", "arthritis relief for aging dogs"), ("reviews", "older dogs struggling with sore joints"),
              ("lp", "mobility support for senior dogs' joints"), ("lp", "helps senior dogs with hip and joint pain")],
    "picky": [("ads", "picky eaters finally eat"), ("reviews", "my dog is such a picky eater"),
              ("reviews", "even fussy eaters love the taste"), ("lp", "picky dogs gobble it up"),
              ("lp", "tastes great to picky eaters")],
    "vet": [("ads", "vet recommended"), ("ads", "recommended by veterinarians"), ("reviews", "our vet recommended it"),
            ("lp", "trusted by vets"), ("lp", "veterinarian approved formula")],
    "shed": [("reviews", "reduces shedding"), ("reviews", "less dog hair on the couch"),
             ("reviews", "cuts down on shedding fur")],
}  # fmt: skip
NOISE = [("ads", "free shipping on orders over $50"), ("reviews", "made in the USA"),
         ("lp", "subscribe and save 15%"), ("ads", "bacon flavour"), ("reviews", "30-day money back guarantee")]  # fmt: skip


@dataclass
class Barkwell:
    db: Database
    caller: Caller
    brand_id: UUID
    theme_of: dict[str, str]  # text -> planted theme ("noise" for noise)


async def seed_barkwell(db: Database, *, organization: str = "Barkwell Co", person: str = "bea") -> Barkwell:
    """One row per planted text, in its kind of source; one existing angle, 'Vet recommended'."""
    org, caller = await new_tenant(db, organization=organization, person=person)
    theme_of = {text: theme for theme, rows in THEMES.items() for _, text in rows}
    theme_of.update({text: "noise" for _, text in NOISE})
    async with db.as_service() as conn:

        async def one(query: str, *args: Any) -> Any:
            return await insert(conn, query, *args)

        brand = await one("insert into brands (organization_id, name) values (%s, 'Barkwell')", org)
        for n, (kind, text) in enumerate([row for rows in THEMES.values() for row in rows] + NOISE):
            if kind == "ads":
                await one("insert into brand_ad_analysis (brand_id, organization_id, data_source, analysis)"
                          " values (%s, %s, 'meta_api', %s)", brand, org, jsonb({"pain_points": [text]}))  # fmt: skip
            elif kind == "reviews":
                await one("insert into amazon_review_analysis (brand_id, organization_id, analysis)"
                          " values (%s, %s, %s)", brand, org, jsonb({"desires": [text]}))  # fmt: skip
            else:
                await one("insert into brand_landing_pages (brand_id, organization_id, url, benefits)"
                          " values (%s, %s, %s, %s)", brand, org, f"https://barkwell.example/p{n}", jsonb([text]))  # fmt: skip
        await one("insert into angles (brand_id, organization_id, name, description) values (%s, %s,"
                  " 'Vet recommended', 'Recommended by veterinarians')", brand, org)  # fmt: skip
    return Barkwell(db=db, caller=caller, brand_id=brand, theme_of=theme_of)


def pattern_of(report: PatternReport, theme_of: dict[str, str], theme: str) -> Any:
    """The pattern holding most of the theme's texts."""
    return max(report.patterns, key=lambda p: sum(theme_of[m.text] == theme for m in p.members))
