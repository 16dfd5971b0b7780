"""Metric definitions used everywhere (DESIGN §3): ratios of summed raw counts per ad."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from services.money import Money, format_money

MetricName = Literal[
    "spend",
    "impressions",
    "link_clicks",
    "purchases",
    "purchase_value",
    "ctr",
    "cpc",
    "cpm",
    "cpa",
    "roas",
    "hook_rate",
    "hold_rate",
    "thruplay_rate",
]

# The raw counts summed per ad over the window; every ratio is built from these.
RAW_COUNTS = (
    "spend",
    "impressions",
    "link_clicks",
    "purchases",
    "purchase_value",
    "video_3s_views",
    "video_thruplays",
)


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator × scale, from summed counts; n/a when the denominator is 0."""

    name: str
    label: str
    numerator: str
    denominator: str
    formula: str
    higher_is_better: bool
    scale: float = 1.0
    video_only: bool = False
    unit: Literal["pct", "money", "x"] = "pct"


RATIOS: dict[str, Ratio] = {
    r.name: r
    for r in (
        Ratio(
            "hook_rate",
            "Hook rate",
            "video_3s_views",
            "impressions",
            "hook rate = 3-second video plays / impressions",
            True,
            video_only=True,
        ),
        Ratio(
            "hold_rate",
            "Hold rate",
            "video_thruplays",
            "video_3s_views",
            "hold rate = ThruPlays / 3-second video plays",
            True,
            video_only=True,
        ),
        Ratio(
            "thruplay_rate",
            "ThruPlay rate",
            "video_thruplays",
            "impressions",
            "ThruPlay rate = ThruPlays / impressions",
            True,
            video_only=True,
        ),
        Ratio("ctr", "CTR", "link_clicks", "impressions", "CTR = link clicks / impressions", True),
        Ratio("cpc", "CPC", "spend", "link_clicks", "CPC = spend / link clicks", False, unit="money"),
        Ratio(
            "cpm",
            "CPM",
            "spend",
            "impressions",
            "CPM = 1000 × spend / impressions",
            False,
            scale=1000.0,
            unit="money",
        ),
        Ratio("cpa", "CPA", "spend", "purchases", "CPA = spend / purchases", False, unit="money"),
        Ratio("roas", "ROAS", "purchase_value", "spend", "ROAS = purchase value / spend", True, unit="x"),
    )
}

SUM_LABELS = {
    "spend": "Spend",
    "impressions": "Impressions",
    "link_clicks": "Link clicks",
    "purchases": "Purchases",
    "purchase_value": "Purchase value",
}


def is_higher_better(metric: str) -> bool:
    return RATIOS[metric].higher_is_better if metric in RATIOS else True


def formula(metric: str) -> str:
    """The formula an answer names, e.g. 'hold rate = ThruPlays / 3-second video plays'."""
    if metric in RATIOS:
        return RATIOS[metric].formula
    return f"{SUM_LABELS.get(metric, metric)} summed over the window"


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value) if isinstance(value, Decimal | int | float) else float(str(value))


def compute_ratio(metric: str, sums: Mapping[str, Any], *, is_video: bool = True) -> float | None:
    """One ratio from summed counts; None ("n/a") for a zero denominator or a video metric on non-video."""
    r = RATIOS[metric]
    if r.video_only and not is_video:
        return None
    denominator = _num(sums.get(r.denominator))
    if denominator == 0:
        return None
    return r.scale * _num(sums.get(r.numerator)) / denominator


def all_ratios(sums: Mapping[str, Any], *, is_video: bool = True) -> dict[str, float | None]:
    return {name: compute_ratio(name, sums, is_video=is_video) for name in RATIOS}


def ratio_sql(metric: str, *, alias: str = "") -> str:
    """The same ratio as a SQL expression over summed columns (NULL for a zero denominator)."""
    prefix = f"{alias}." if alias else ""
    if metric not in RATIOS:
        return f"{prefix}{metric}::float8"
    r = RATIOS[metric]
    scale = f"{r.scale} * " if r.scale != 1.0 else ""
    return f"({scale}{prefix}{r.numerator}::float8 / nullif({prefix}{r.denominator}, 0)::float8)"


NumberFormat = Literal["money", "percent", "whole_percent", "ratio", "integer", "decimal", "change"]
_RATIO_FORMATS: dict[str, NumberFormat] = {"pct": "percent", "money": "money", "x": "ratio"}


def number_format(metric: str) -> NumberFormat | None:
    """How a metric's figures read (None for a name that is not a metric with a unit)."""
    if metric in RATIOS:
        return _RATIO_FORMATS[RATIOS[metric].unit]
    return "money" if metric in ("spend", "purchase_value") else None


def format_number(format: NumberFormat, value: float | None, *, money: Money | None = None) -> str:
    """$1,234.50 (in the currency figures are shown in: services.money), 12.34%, 12%, 1.23x, 1,234,
    1.23 or +12% (a change); None is 'n/a'."""
    if value is None:
        return "n/a"
    if format == "money":
        return format_money(value, money=money)
    if format == "percent":
        return f"{value * 100:.2f}%"
    if format == "whole_percent":
        return f"{value * 100:.0f}%"
    if format == "ratio":
        return f"{value:.2f}x"
    if format == "decimal":
        return f"{value:,.2f}"
    if format == "change":
        return f"{value:+.0%}"
    return f"{value:,.0f}"


def format_metric(metric: str, value: float | None) -> str:
    """How a figure is shown to a person; None is 'n/a'."""
    return format_number(number_format(metric) or "integer", value)
