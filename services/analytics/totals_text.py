"""How totals and comparisons read: the figures' names, signed changes, and the sentence a marketer reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.metrics import format_metric, number_format
from services.money import format_money
from services.windows import Window

# The figures of a summary, in the order a marketer reads them; ratios from the summed counts.
SUMMED = ("spend", "impressions", "link_clicks", "purchases", "purchase_value")
RATIOS_SHOWN = ("roas", "cpa", "ctr", "hook_rate", "hold_rate")
LABELS = {
    "spend": "Spend", "impressions": "Impressions", "link_clicks": "Link clicks", "purchases": "Purchases",
    "purchase_value": "Revenue (purchase value)", "roas": "ROAS", "cpa": "CPA", "ctr": "CTR",
    "hook_rate": "Hook rate", "hold_rate": "Hold rate",
}  # fmt: skip


def signed(metric: str, change: float | None) -> str:
    """+$1,234.00, -0.31x, +1.20 pp (points for a percentage), +1,234; n/a for None."""
    if change is None:
        return "n/a"
    sign = "+" if change >= 0 else "-"
    if number_format(metric) == "percent":
        return f"{sign}{abs(change) * 100:.2f} pp"
    return sign + format_metric(metric, abs(change))


def pct_change(change: float | None) -> str:
    return "n/a" if change is None else f"{change * 100:+.1f}%"


def when(window: Window) -> str:
    """The window as it reads after a verb: 'in October 2026 (…)', 'in the last 30 days (…)', 'yesterday'."""
    described = window.described
    if window.label.startswith(("last ", "past ")):
        return f"in the {described}"
    if window.label.startswith(("this ", "yesterday", "today")):
        return described
    if window.label == f"{window.since} to {window.until}":
        return f"from {window.since} to {window.until}"
    if window.since == window.until:
        return f"on {described}"
    return f"in {described}"


def sentence(
    result_brand: str,
    window: Window,
    vs_name: str,
    totals: Mapping[str, Any],
    vs_totals: Mapping[str, Any],
    was: str,
) -> str:
    """'Acme Pets spent $12,340 in October 2026 (…), up 8% on September 2026 (…) ($11,420); ROAS 2.41x
    (was 2.10x), …' — `vs_name` names the other side, `was` the word before its figures."""
    spend, vs_spend = totals["spend"], vs_totals["spend"]
    if vs_spend == 0:
        trend = f"; {vs_name} had no spend (change n/a)"
    else:
        pct = round((spend - vs_spend) / vs_spend * 100)
        trend = "flat" if pct == 0 else f"{'up' if pct > 0 else 'down'} {abs(pct)}%"
        trend = f", {trend} on {vs_name} ({format_money(vs_spend, whole=True)})"
    figures = ", ".join(
        f"{LABELS[m] if m in ('roas', 'cpa', 'ctr') else LABELS[m].lower()} {format_metric(m, totals[m])}"
        f" ({was} {format_metric(m, vs_totals[m])})"
        for m in RATIOS_SHOWN
    )
    return (
        f"{result_brand} spent {format_money(spend, whole=True)} {when(window)}{trend}; {figures}; "
        f"{totals['purchases']:,} purchases ({was} {vs_totals['purchases']:,}) for {format_money(totals['purchase_value'], whole=True)} revenue"
        f" ({was} {format_money(vs_totals['purchase_value'], whole=True)})."
    )


def named(window: Window, *, previous: bool = False) -> str:
    """A period as a noun: 'September 2026 (2026-09-01 to 2026-09-30)', 'the previous 30 days (…)', or its dates."""
    if window.label == f"{window.since} to {window.until}":
        range_text = f"{window.since} to {window.until}"
        return f"the previous {window.days} days ({range_text})" if previous else range_text
    return window.described
