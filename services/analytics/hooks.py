"""Hooks: which openings held attention, ranked per ad and grouped by hook category."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from core.errors import NoData
from db.pool import Conn
from services.metrics import (
    RATIOS,
    compute_ratio,
    format_metric,
    formula,
    is_higher_better,
    number_format,
    ratio_sql,
)
from services.models import (
    AdMetrics,
    BrandRef,
    WindowInfo,
    latest_classification_sql,
    per_ad_sums_sql,
    window_scan,
)
from services.money import InCurrency, currency_symbol, format_money
from services.presentable import (
    Figure,
    Presentable,
    Table,
    hover_value,
    in_words,
    layout,
    percents,
    table_of,
    titled,
)
from services.windows import Window

HookType = Literal["any", "spoken", "overlay", "visual"]
HOOK_CATEGORIES = (
    "question",
    "bold_claim",
    "problem_callout",
    "social_proof",
    "curiosity",
    "demonstration",
    "testimonial",
    "offer",
    "before_after",
    "us_vs_them",
)


_HOOK_KINDS = ("spoken", "overlay", "visual")


def _hook_sql(hook_type: str, alias: str = "cls") -> str:
    """The jsonb hook object of this type (for 'any': spoken, else overlay, else visual)."""
    kinds = _HOOK_KINDS if hook_type == "any" else (hook_type,)
    return "coalesce(" + ", ".join(f"nullif({alias}.hooks->'{kind}', 'null')" for kind in kinds) + ")"


def _has_hook_sql(hook_type: str) -> str:
    """Whether the classification has a hook of this type, from its generated has_*_hook columns
    (each is `nullif(hooks->kind, 'null') is not null`: the test `_hook_sql` makes)."""
    kinds = _HOOK_KINDS if hook_type == "any" else (hook_type,)
    return "(" + " or ".join(f"cls.has_{kind}_hook" for kind in kinds) + ")"


def _hook_kind_sql(hook_type: str) -> str:
    if hook_type != "any":
        return f"'{hook_type}'"
    return "case " + " ".join(f"when cls.has_{kind}_hook then '{kind}'" for kind in _HOOK_KINDS) + " end"


def _joined_sql(hook_type: str, video_only: bool, *, hook_objects: bool) -> str:
    """Per ad with spend in the window: its sums, its latest classification and its hook.

    With `hook_objects`, each row carries the hook object itself (`hook`, from the hooks JSON);
    without, only whether there is one (`has_hook`, `hook_kind`, from the generated flags, which
    the brand index covers) and the classification's id, to fetch the objects of the few rows
    shown. Either way `has_hook` says whether the ad has a hook of the type.
    """
    if hook_objects:
        cls_columns = "c.meta_ad_id, c.hooks, c.has_spoken_hook, c.has_overlay_hook, c.has_visual_hook"
        hook_columns = f"{_hook_sql(hook_type)} as hook,"
    else:
        cls_columns = "c.meta_ad_id, c.id, c.has_spoken_hook, c.has_overlay_hook, c.has_visual_hook"
        hook_columns = "cls.id as classification_id,"
    return f"""
    with per_ad as ({per_ad_sums_sql(ad_columns=True)}),
    cls as ({latest_classification_sql(cls_columns)}),
    j as materialized (
      select pa.*, (cls.meta_ad_id is not null) as classified, {hook_columns}
             {_has_hook_sql(hook_type)} as has_hook, {_hook_kind_sql(hook_type)} as hook_kind,
             pa.spend >= %(min_spend)s as eligible
      from per_ad pa
      left join cls on cls.meta_ad_id = pa.meta_ad_id
      {"where pa.format = 'video'" if video_only else ""}
    ),
    counts as (
      select count(*) as ads_with_spend,
             count(*) filter (where not eligible) as below_min_spend,
             count(*) filter (where eligible and not classified) as unclassified,
             count(*) filter (where eligible and classified and not has_hook) as without_hook,
             coalesce(sum(spend) filter (where eligible and not classified), 0) as unclassified_spend
      from j
    )
    """


class GateCounts(BaseModel):
    """What the ranking left out, and why, so nothing is dropped silently."""

    ads_with_spend: int
    excluded_below_min_spend: int
    unclassified: int
    unclassified_spend: float
    without_hook_of_type: int


def _gate(counts: dict[str, Any]) -> GateCounts:
    return GateCounts(
        ads_with_spend=int(counts["ads_with_spend"]),
        excluded_below_min_spend=int(counts["below_min_spend"]),
        unclassified=int(counts["unclassified"]),
        unclassified_spend=round(float(counts["unclassified_spend"]), 2),
        without_hook_of_type=int(counts["without_hook"]),
    )


def _gate_text(gate: GateCounts, min_spend: float, hook_type: str) -> str:
    parts = [f"{gate.excluded_below_min_spend} under {format_money(min_spend, whole=True)} spend"]
    if gate.unclassified:
        parts.append(
            f"{gate.unclassified} not yet classified ({format_money(gate.unclassified_spend)} spend, no hook data)"
        )
    if gate.without_hook_of_type:
        parts.append(f"{gate.without_hook_of_type} without a {hook_type} hook")
    return "Left out: " + ", ".join(parts) + "."


class HookRow(AdMetrics):
    hook_type: str
    hook_text: str
    hook_category: str | None
    hook_at: float | None = None
    """Second the hook starts, when the video was analysed (spoken words, on-screen text, visual)."""


class TopHooksResult(InCurrency, Presentable):
    brand: str
    window: WindowInfo
    metric: str
    formula: str
    hook_type: HookType
    min_spend: float
    gate: GateCounts
    rows: list[HookRow]
    summary: str

    def as_tables(self) -> list[Table]:
        extra = [m for m in ("hook_rate", "hold_rate", "ctr", "roas") if m != self.metric]
        timed = ["hook_at"] if any(r.hook_at is not None for r in self.rows) else []
        columns = ["hook_text", "hook_category", "hook_type", *timed, "ad_name", "spend", self.metric, *extra]
        return [
            table_of(
                f"Top hooks by {in_words(self.metric)} — {self.brand}, {self.window.label}",
                self.rows,
                columns,
            )
        ]

    def as_charts(self) -> list[Figure]:
        return [top_hooks_chart(self)] if self.rows else []


def top_hooks_chart(result: TopHooksResult) -> Figure:
    """The ranked hooks' metric, best first."""
    rows = result.rows
    labels = [
        f"{i + 1}. {(r.hook_text[:40] + '…') if len(r.hook_text) > 40 else r.hook_text}"
        for i, r in enumerate(rows)
    ]
    values: list[float | None] = [getattr(r, result.metric) for r in rows]
    percent = result.metric in ("hook_rate", "hold_rate", "thruplay_rate", "ctr")
    shown = hover_value(number_format(result.metric) or "integer", "x")
    return {
        "data": [
            {
                "type": "bar",
                "x": percents(values) if percent else values,
                "y": labels,
                "orientation": "h",
                "customdata": [r.hook_text for r in rows],
                "hovertemplate": f"%{{customdata}}<br>{result.metric} {shown}<extra></extra>",
            }
        ],
        "layout": layout(
            f"Top hooks by {in_words(result.metric)} — {result.brand}, {result.window.label}",
            # Each hook's label over its bar, not beside it: a phone keeps its width for the bars.
            yaxis={"autorange": "reversed", "showticklabels": False, "showgrid": False},
            annotations=[
                {
                    "text": label,
                    "x": 0,
                    "xref": "paper",
                    "xanchor": "left",
                    "y": label,
                    "yanchor": "bottom",
                    "yshift": 9,
                    "showarrow": False,
                }
                for label in labels
            ],
            bargap=0.55,
            height=130 + 40 * len(rows),
            xaxis={"title": {"text": f"{titled(result.metric)}{' (%)' if percent else ''}"}},
        ),
    }


async def top_hooks(
    conn: Conn,
    *,
    brand: BrandRef,
    window: Window,
    metric: str = "hook_rate",
    hook_type: HookType = "any",
    min_spend: float = 50.0,
    limit: int = 10,
) -> TopHooksResult:
    """The ads whose hooks did best by `metric`, with each ad's hook text and category."""
    video_only = metric in RATIOS and RATIOS[metric].video_only
    direction = "desc" if is_higher_better(metric) else "asc"
    # The hook objects themselves only for the rows shown (by the classification the flags came from).
    sql = (
        _joined_sql(hook_type, video_only, hook_objects=False)
        + f"""
    , ranked as (
      select j.* from j
      where j.eligible and j.classified and j.has_hook
      order by {ratio_sql(metric, alias="j")} {direction} nulls last, j.spend desc, j.meta_ad_id
      limit %(limit)s
    ),
    shown as (
      select ranked.*, {_hook_sql(hook_type, alias="c")} as hook
      from ranked join ad_creative_classifications c on c.id = ranked.classification_id
    )
    select (select row_to_json(counts) from counts) as counts,
           (select coalesce(json_agg(shown order by {ratio_sql(metric, alias="shown")} {direction} nulls last,
                                     shown.spend desc, shown.meta_ad_id), '[]') from shown) as rows
    """
    )
    params = {
        "brand_id": brand.id,
        "since": window.since,
        "until": window.until,
        "min_spend": min_spend,
        "limit": limit,
    }
    cur = await window_scan(conn, sql, params)
    result = await cur.fetchone()
    assert result is not None
    gate = _gate(result["counts"])
    scope = "video ads" if video_only else "ads"
    if gate.ads_with_spend == 0:
        raise NoData(f"No {scope} with spend for {brand.name} in {window.described}.")
    rows = [
        HookRow(
            **AdMetrics.from_sums(raw).model_dump(),
            hook_type=str(raw["hook_kind"]),
            hook_text=str((raw["hook"] or {}).get("text") or ""),
            hook_category=(raw["hook"] or {}).get("category"),
            hook_at=(raw["hook"] or {}).get("at"),
        )
        for raw in result["rows"]
    ]
    gate_text = _gate_text(gate, min_spend, hook_type)
    if rows:
        best = rows[0]
        summary = (
            f"Top {len(rows)} hooks for {brand.name} by {metric} in {window.described}"
            f", {scope} with at least {format_money(min_spend, whole=True)} spend. "
            f'Best: "{best.hook_text}" ({best.hook_category or "uncategorised"}, {best.hook_type}'
            f"{'' if best.hook_at is None else f' at {best.hook_at:g} s'}) on "
            f"'{best.ad_name}' at {format_metric(metric, getattr(best, metric))} on {format_money(best.spend)} spend. "
            f"{gate_text} Formula: {formula(metric)}."
        )
    else:
        summary = f"No classified {scope} for {brand.name} reached {format_money(min_spend, whole=True)} spend in {window.label}. {gate_text}"
    return TopHooksResult(
        brand=brand.name,
        window=WindowInfo.of(window),
        metric=metric,
        formula=formula(metric),
        hook_type=hook_type,
        min_spend=min_spend,
        gate=gate,
        rows=rows,
        summary=summary,
    )


class HookCategoryRow(BaseModel):
    """One hook category: counts summed over its ads, ratios of those sums (video ratios over video ads)."""

    category: str
    ads: int
    video_ads: int
    spend: float
    impressions: int
    link_clicks: int
    purchases: int
    purchase_value: float
    hook_rate: float | None
    hold_rate: float | None
    thruplay_rate: float | None
    ctr: float | None
    cpa: float | None
    roas: float | None


class HookAnalysisResult(InCurrency, Presentable):
    brand: str
    window: WindowInfo
    hook_type: HookType
    min_spend: float
    formulas: list[str]
    gate: GateCounts
    rows: list[HookCategoryRow]
    summary: str

    def as_tables(self) -> list[Table]:
        columns = ["category", "ads", "video_ads", "spend", "hook_rate", "hold_rate", "ctr", "cpa", "roas"]
        return [table_of(f"Hook categories — {self.brand}, {self.window.label}", self.rows, columns)]

    def as_charts(self) -> list[Figure]:
        return [hook_categories_chart(self)] if self.rows else []


def hook_categories_chart(result: HookAnalysisResult) -> Figure:
    """Hook rate per category (bars) against spend (markers, right axis)."""
    rows = sorted(result.rows, key=lambda r: -(r.hook_rate or 0))
    names = [r.category for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": percents([r.hook_rate for r in rows]),
                "name": "Hook rate (%)",
                "marker": {"color": "#1e88e5"},
                "hovertemplate": f"%{{x}}<br>hook rate {hover_value('percent', 'y')}<extra></extra>",
            },
            {
                "type": "scatter",
                "x": names,
                "y": [r.spend for r in rows],
                "name": f"Spend ({currency_symbol()})",
                "yaxis": "y2",
                "mode": "markers",
                "marker": {"size": 12},
                "hovertemplate": f"%{{x}}<br>spend {hover_value('money', 'y')}<extra></extra>",
            },
        ],
        "layout": layout(
            f"Hook categories — {result.brand}, {result.window.label}",
            yaxis={"title": {"text": "Hook rate (%)"}},
            yaxis2={
                "title": {"text": "Spend"},
                "overlaying": "y",
                "side": "right",
                "tickprefix": currency_symbol(),
                "showgrid": False,
            },
        ),
    }


async def hook_analysis(
    conn: Conn, *, brand: BrandRef, window: Window, hook_type: HookType = "any", min_spend: float = 50.0
) -> HookAnalysisResult:
    """Hook categories against performance: which kinds of opening work for this brand."""
    sql = (
        _joined_sql(hook_type, video_only=False, hook_objects=True)
        + """
    , cats as (
      select coalesce(j.hook->>'category', 'uncategorised') as category,
             count(*) as ads, count(*) filter (where j.format = 'video') as video_ads,
             sum(j.spend) as spend, sum(j.impressions) as impressions, sum(j.link_clicks) as link_clicks,
             sum(j.purchases) as purchases, sum(j.purchase_value) as purchase_value,
             coalesce(sum(j.impressions) filter (where j.format = 'video'), 0) as video_impressions,
             coalesce(sum(j.video_3s_views) filter (where j.format = 'video'), 0) as video_3s_views,
             coalesce(sum(j.video_thruplays) filter (where j.format = 'video'), 0) as video_thruplays
      from j
      where j.eligible and j.classified and j.hook is not null
      group by 1
    )
    select (select row_to_json(counts) from counts) as counts,
           (select coalesce(json_agg(cats), '[]') from cats) as rows
    """
    )
    params = {"brand_id": brand.id, "since": window.since, "until": window.until, "min_spend": min_spend}
    cur = await window_scan(conn, sql, params)
    result = await cur.fetchone()
    assert result is not None
    gate = _gate(result["counts"])
    if gate.ads_with_spend == 0:
        raise NoData(f"No ads with spend for {brand.name} in {window.described}.")
    rows: list[HookCategoryRow] = []
    for raw in result["rows"]:
        video = {**raw, "impressions": raw["video_impressions"]}
        rows.append(
            HookCategoryRow(
                category=raw["category"],
                ads=int(raw["ads"]),
                video_ads=int(raw["video_ads"]),
                spend=round(float(raw["spend"]), 2),
                impressions=int(raw["impressions"]),
                link_clicks=int(raw["link_clicks"]),
                purchases=int(raw["purchases"]),
                purchase_value=round(float(raw["purchase_value"]), 2),
                hook_rate=compute_ratio("hook_rate", video),
                hold_rate=compute_ratio("hold_rate", video),
                thruplay_rate=compute_ratio("thruplay_rate", video),
                ctr=compute_ratio("ctr", raw),
                cpa=compute_ratio("cpa", raw),
                roas=compute_ratio("roas", raw),
            )
        )
    rows.sort(key=lambda r: (-r.spend, r.category))
    gate_text = _gate_text(gate, min_spend, hook_type)
    ranked = sorted((r for r in rows if r.hook_rate is not None), key=lambda r: -(r.hook_rate or 0))
    if ranked:
        top = ranked[0]
        summary = (
            f"{len(rows)} hook categories for {brand.name} in {window.described}. "
            f"'{top.category}' hooks held attention best: hook rate {format_metric('hook_rate', top.hook_rate)} "
            f"across {top.video_ads} video ads ({format_money(top.spend)} spend), ROAS {format_metric('roas', top.roas)}. "
            f"{gate_text} Ratios are of summed counts per category; video ratios over video ads only."
        )
    elif rows:
        summary = f"{len(rows)} hook categories for {brand.name} in {window.label}; none has video delivery. {gate_text}"
    else:
        summary = f"No classified ads for {brand.name} reached {format_money(min_spend, whole=True)} spend in {window.label}. {gate_text}"
    return HookAnalysisResult(
        brand=brand.name,
        window=WindowInfo.of(window),
        hook_type=hook_type,
        min_spend=min_spend,
        formulas=[formula(m) for m in ("hook_rate", "hold_rate", "thruplay_rate", "ctr", "cpa", "roas")],
        gate=gate,
        rows=rows,
        summary=summary,
    )
