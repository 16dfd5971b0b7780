"""Which library templates to use for a product: by AI match, by Meta performance, or for variety.

- `ai_match`: the stored 0–100 fit scores (`services.templates.scoring` fills them), best first.
- `performance`: templates linked to the brand's ads (`generated_ads.source_template_id`), ranked by
  ROAS from raw counts summed per ad over the window and smoothed toward the brand's own ROAS
  (its niche baseline) so one lucky ad does not top the list:
      smoothed ROAS = (purchase value + PRIOR_SPEND × brand ROAS) / (spend + PRIOR_SPEND)
  i.e. every template starts as if it had PRIOR_SPEND of spend at the brand's average; its own spend
  outweighs the prior as it grows (an empirical-Bayes estimate with a fixed prior weight).
- `diversity`: approved templates not yet used for the product, dealt round-robin across categories
  (best AI match score first within a category), so the list is not ten variants of one layout.

Filters: `all`; `recommended` (ai_match / diversity: score ≥ 70; performance: smoothed ROAS at or
above the brand's); `unused_recommended` (recommended and not used for this product: marked used, or
an ad was already generated from it). Reads run as the caller (RLS).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from core.errors import Ambiguous, InvalidArgument, NotFound
from db.pool import Conn
from services.metrics import compute_ratio, format_metric
from services.models import WindowInfo, per_ad_sums_sql, window_scan
from services.money import InCurrency, format_money
from services.platform.server_files import ServerFile
from services.presentable import Presentable, Table
from services.products import ProductRef
from services.templates.scoring import (
    OFFLINE_LABEL,
    OFFLINE_VERSION,
    RECOMMENDED_SCORE,
    Methodology,
    RecommendationFilter,
    ScoringResult,
)
from services.windows import Window

PRIOR_SPEND = 1000.0
"""Dollars of spend at the brand's ROAS every template starts with (performance smoothing)."""
PERFORMANCE_FORMULA = (
    f"smoothed ROAS = (purchase value + {format_money(PRIOR_SPEND, whole=True)} × brand ROAS) / (spend + {format_money(PRIOR_SPEND, whole=True)}); "
    "ROAS = purchase value / spend, CPA = spend / purchases, CTR = link clicks / impressions, "
    "each from raw counts summed per ad over the window"
)


class TemplatePick(BaseModel):
    """One recommended template, with why."""

    template_id: UUID
    name: str | None
    category: str | None
    format: str | None
    image_path: str | None
    thumbnail_path: str | None = None
    image_file: ServerFile | None = None
    """Where the chat opens its picture (the thumbnail, else the image; answers name it); set by the tool."""
    score: float | None
    """ai_match / diversity: the 0–100 fit; performance: the smoothed ROAS."""
    reason: str
    used: bool
    auto_recommended: bool = False
    """Scored at or above the product's own auto-recommendation threshold (/template_auto)."""
    ads: int | None = None
    spend: float | None = None
    purchase_value: float | None = None
    roas: float | None = None
    cpa: float | None = None
    ctr: float | None = None


class RecommendationResult(InCurrency, Presentable):
    brand: str
    product: str
    product_id: UUID
    methodology: Methodology
    filter: RecommendationFilter
    scorer: str | None = None
    """Who judged the ai_match scores (a model, or the offline similarity label)."""
    window: WindowInfo | None = None
    brand_roas: float | None = None
    formula: str | None = None
    considered: int = 0
    """Templates that had a score, performance or (diversity) were unused, before the filter."""
    rows: list[TemplatePick] = Field(default_factory=list)
    scoring: ScoringResult | None = None
    marked_used: str | None = None
    summary: str = ""

    def as_tables(self) -> list[Table]:
        if not self.rows:
            return []
        title = f"Templates for {self.product} — {self.methodology.replace('_', ' ')}"
        if self.methodology == "performance":  # the score is the smoothed ROAS, and says so
            fields = ["name", "category", "score", "ads", "spend", "roas", "cpa", "ctr", "used", "reason"]
            rows = [[getattr(p, f) for f in fields] for p in self.rows]
            return [Table(title, [*fields[:2], "smoothed_roas", *fields[3:]], rows)]
        fields = ["name", "category", "format", "score", "used", "reason"]
        rows = [[*(getattr(p, f) for f in fields), str(p.template_id)[:8]] for p in self.rows]
        return [Table(title, [*fields, "id"], rows)]

    def as_images(self) -> list[tuple[str, str]]:
        return [(self._caption(p), p.image_file) for p in self.rows if p.image_file]

    def _caption(self, pick: TemplatePick) -> str:
        if pick.score is None:
            score = "n/a"
        else:
            score = f"{pick.score:.2f}x" if self.methodology == "performance" else f"{pick.score:.0f}/100"
        return f"{pick.name or 'Untitled'} · {score} · {pick.reason[:120]}"

    actions: list[Any] = Field(default_factory=list)
    """Buttons (`tools.actions.ActionButton`), filled in by the tool."""


_USED = """(exists (select 1 from template_recommendations u where u.product_id = %(product_id)s
                     and u.template_id = t.id and u.used)
         or exists (select 1 from generated_ads g where g.product_id = %(product_id)s
                     and g.source_template_id = t.id))"""

_AI_MATCH_SQL = f"""
select t.id as template_id, t.name, t.category, t.format, t.image_path, t.thumbnail_path, r.score, r.reason, r.prompt_version,
       {_USED} as used, r.auto_recommended_at is not null as auto_recommended
from scraped_templates t
join template_recommendations r
  on r.template_id = t.id and r.product_id = %(product_id)s and r.methodology = 'ai_match'
where t.status = 'approved'
order by r.score desc nulls last, t.name, t.id
"""

_UNUSED_SQL = f"""
select t.id as template_id, t.name, t.category, t.format, t.image_path, t.thumbnail_path, r.score, r.reason, r.prompt_version,
       false as used, coalesce(r.auto_recommended_at is not null, false) as auto_recommended
from scraped_templates t
left join template_recommendations r
  on r.template_id = t.id and r.product_id = %(product_id)s and r.methodology = 'ai_match'
where t.status = 'approved' and not {_USED}
order by r.score desc nulls last, t.name, t.id
"""


def _performance_sql() -> str:
    return f"""
with per_ad as ({per_ad_sums_sql()}),
linked as (
  select distinct g.source_template_id as template_id, g.meta_ad_id
  from generated_ads g
  where g.brand_id = %(brand_id)s and g.source_template_id is not null and g.meta_ad_id is not null
),
per_template as (
  select l.template_id, count(*) as ads, sum(pa.spend) as spend, sum(pa.purchase_value) as purchase_value,
         sum(pa.purchases) as purchases, sum(pa.link_clicks) as link_clicks, sum(pa.impressions) as impressions
  from linked l join per_ad pa on pa.meta_ad_id = l.meta_ad_id
  group by l.template_id
)
select t.id as template_id, t.name, t.category, t.format, t.image_path, t.thumbnail_path, {_USED} as used, pt.ads,
       pt.spend, pt.purchase_value, pt.purchases, pt.link_clicks, pt.impressions,
       (select sum(spend) from per_ad) as brand_spend,
       (select sum(purchase_value) from per_ad) as brand_value
from per_template pt join scraped_templates t on t.id = pt.template_id
where t.status = 'approved'
"""


def _scorer_of(version: str | None) -> str:
    return OFFLINE_LABEL if version == OFFLINE_VERSION else "AI match"


def _pick(row: dict[str, Any], reason: str | None = None) -> TemplatePick:
    score = row.get("score")
    return TemplatePick(
        template_id=row["template_id"],
        name=row["name"],
        category=row["category"],
        format=row["format"],
        image_path=row["image_path"],
        thumbnail_path=row["thumbnail_path"],
        score=None if score is None else round(float(score), 1),
        reason=reason
        if reason is not None
        else (row.get("reason") or "Not scored yet: run methodology:ai_match."),
        used=bool(row["used"]),
        auto_recommended=bool(row.get("auto_recommended")),
    )


def _is_recommended(pick: TemplatePick) -> bool:
    """The scorer's bar, or the product's own threshold (as /create_ads reads "recommended")."""
    return pick.auto_recommended or (pick.score is not None and pick.score >= RECOMMENDED_SCORE)


def round_robin(picks: list[TemplatePick]) -> list[TemplatePick]:
    """One per category in turn (categories with the best score first), best score first within each."""
    groups: OrderedDict[str, list[TemplatePick]] = OrderedDict()
    for pick in sorted(picks, key=lambda p: (-(p.score if p.score is not None else -1.0), p.name or "")):
        groups.setdefault(pick.category or "uncategorised", []).append(pick)
    out: list[TemplatePick] = []
    queues = list(groups.values())
    while queues:
        out += [queue.pop(0) for queue in queues]
        queues = [queue for queue in queues if queue]
    return out


async def recommend(
    conn: Conn,
    *,
    product: ProductRef,
    methodology: Methodology = "ai_match",
    filter: RecommendationFilter = "all",
    limit: int = 12,
    window: Window | None = None,
    scoring: ScoringResult | None = None,
) -> RecommendationResult:
    """The product's templates by `methodology`, filtered, best first, at most `limit`.

    `window` is required for `performance`. `scoring` (a run that just happened) is reported along."""
    result = RecommendationResult(
        brand=product.brand, product=product.name, product_id=product.id, methodology=methodology,
        filter=filter, scoring=scoring,
    )  # fmt: skip
    params = {"product_id": product.id, "brand_id": product.brand_id}
    if methodology == "performance":
        if window is None:
            raise InvalidArgument("The performance methodology needs a window (days, or since/until).")
        picks = await _performance(conn, product, window, params, result)
        recommended = [p for p in picks if p.score is not None and p.score >= (result.brand_roas or 0.0)]
    else:
        cur = await conn.execute(_AI_MATCH_SQL if methodology == "ai_match" else _UNUSED_SQL, params)
        rows = await cur.fetchall()
        versions = {r["prompt_version"] for r in rows if r["prompt_version"]}
        if versions:
            result.scorer = " and ".join(sorted(_scorer_of(v) for v in versions))
        picks = [_pick(r) for r in rows]
        if methodology == "diversity":
            picks = round_robin(picks)
        recommended = [p for p in picks if _is_recommended(p)]
    result.considered = len(picks)
    if filter == "all":
        chosen = picks
    elif filter == "recommended":
        chosen = recommended
    else:
        chosen = [p for p in recommended if not p.used]
    result.rows = chosen[:limit]
    result.summary = _summary(result, methodology, filter)
    return result


async def _performance(
    conn: Conn, product: ProductRef, window: Window, params: dict[str, Any], result: RecommendationResult
) -> list[TemplatePick]:
    result.window = WindowInfo.of(window)
    result.formula = PERFORMANCE_FORMULA
    cur = await window_scan(
        conn, _performance_sql(), {**params, "since": window.since, "until": window.until}
    )
    rows = await cur.fetchall()
    if not rows:
        return []
    brand_spend, brand_value = float(rows[0]["brand_spend"] or 0), float(rows[0]["brand_value"] or 0)
    prior = brand_value / brand_spend if brand_spend > 0 else 0.0
    result.brand_roas = round(prior, 4)
    picks = []
    for row in rows:
        spend, value = float(row["spend"] or 0), float(row["purchase_value"] or 0)
        smoothed = (value + PRIOR_SPEND * prior) / (spend + PRIOR_SPEND)
        roas = compute_ratio("roas", row)
        reason = (
            f"{row['ads']} ad{'s' if row['ads'] != 1 else ''}, {format_metric('spend', spend)} spend, "
            f"ROAS {format_metric('roas', roas)} → {smoothed:.2f}x smoothed toward the brand's {prior:.2f}x"
        )
        pick = _pick({**row, "score": smoothed}, reason)
        pick.score = round(smoothed, 3)
        pick.ads, pick.spend, pick.purchase_value = int(row["ads"]), round(spend, 2), round(value, 2)
        pick.roas, pick.cpa, pick.ctr = roas, compute_ratio("cpa", row), compute_ratio("ctr", row)
        picks.append(pick)
    picks.sort(key=lambda p: (-(p.score or 0.0), -(p.spend or 0.0), p.name or ""))
    return picks


def _summary(result: RecommendationResult, methodology: Methodology, filter: RecommendationFilter) -> str:
    where = f"{result.product} ({result.brand})"
    if methodology == "performance" and result.considered == 0:
        label = result.window.label if result.window else "the window"
        return (
            f"No template has performance data yet for {result.brand} ({label}): no ad made from a library "
            "template (generated_ads with a source template) had delivery in the window. "
            "Try methodology:ai_match or methodology:diversity."
        )
    if methodology == "ai_match" and result.considered == 0:
        return f"No template has been scored for {where} yet."
    if methodology == "diversity" and result.considered == 0:
        return f"Every approved template has already been used for {where}."
    which = {"all": "", "recommended": " recommended", "unused_recommended": " unused recommended"}[filter]
    head = f"{len(result.rows)}{which} template{'s' if len(result.rows) != 1 else ''} for {where}"
    if methodology == "ai_match":
        text = f"{head} by AI match ({result.considered} scored"
        text += f"; scored by {result.scorer})." if result.scorer else ")."
    elif methodology == "performance":
        text = (
            f"{head} by Meta performance, {result.window.label if result.window else ''}: {result.considered} "
            f"templates with delivery; brand ROAS {format_metric('roas', result.brand_roas)} "
            f"(the prior). {result.formula}."
        )
    else:
        text = f"{head} not yet used, spread across categories ({result.considered} unused)."
    if filter != "all" and methodology != "performance":
        text += (
            f" Recommended = score ≥ {RECOMMENDED_SCORE:.0f}, or the product's own /template_auto threshold."
        )
    if result.rows:
        top = result.rows[0]
        text += f" Top: {top.name or 'Untitled'} ({top.category or 'uncategorised'}) — {top.reason}"
    elif filter != "all":
        text += " None passes the filter; try filter:all."
    if result.scoring is not None:
        text = f"{result.scoring.summary} {text}"
    return text


async def mark_used(conn: Conn, *, product: ProductRef, template: str) -> str:
    """Mark a template used for the product (its id, or an 8+ character prefix); returns its name."""
    ref = template.strip().lower()
    if len(ref) < 8 or any(c not in "0123456789abcdef-" for c in ref):
        raise InvalidArgument(
            f"mark_used takes a template id (at least its first 8 characters), got '{template}'."
        )
    cur = await conn.execute(
        "select id, name from scraped_templates where status = 'approved' and id::text like %s limit 2",
        (ref + "%",),
    )
    found = await cur.fetchall()
    if not found:
        raise NotFound(f"No approved template with id '{template}'.")
    if len(found) > 1:
        raise Ambiguous(f"'{template}' starts the ids of several templates: give more of the id.")
    template_id = found[0]["id"]
    cur = await conn.execute(
        "update template_recommendations set used = true where product_id = %s and template_id = %s",
        (product.id, template_id),
    )
    if not cur.rowcount:
        await conn.execute(
            "insert into template_recommendations (product_id, organization_id, template_id, methodology, used)"
            " values (%s, %s, %s, 'diversity', true)",
            (product.id, product.organization_id, template_id),
        )
    return str(found[0]["name"] or template_id)
