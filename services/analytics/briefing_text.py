"""How a briefing reads: one line per change, the summary sentence, Block Kit pieces (services.analytics.briefings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.metrics import format_metric
from services.money import format_money

if TYPE_CHECKING:
    from services.analytics.briefings import AdChange, Briefing, HookChange, ScalingCongruence, SpendShift
    from services.models import WindowInfo

MOST = 5
"""Lines per kind of change in a Slack post or plain text (the chat's tables show them all)."""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.0%}"


def ad_line(a: AdChange) -> str:
    vs = "n/a" if a.vs_baseline_roas is None else f"{a.vs_baseline_roas:.2f} × the baseline ROAS"
    return (
        f"{a.ad_name}: ROAS {format_metric('roas', a.roas)} ({vs}), CPA {format_metric('cpa', a.cpa)} on"
        f" {format_money(a.spend)}; previous period ROAS {format_metric('roas', a.previous_roas)} on {format_money(a.previous_spend)}"
    )


def hook_line(h: HookChange) -> str:
    freq = "n/a" if h.frequency is None else f"{h.frequency:.2f}"
    prev_freq = "n/a" if h.previous_frequency is None else f"{h.previous_frequency:.2f}"
    hook = f" ('{h.hook}')" if h.hook else ""
    return (
        f"{h.ad_name}{hook} {h.trend}: hook rate {format_metric('hook_rate', h.previous_hook_rate)} →"
        f" {format_metric('hook_rate', h.hook_rate)} ({pct(h.hook_rate_change)}), frequency {prev_freq} → {freq}"
        f" ({pct(h.frequency_change)})"
    )


def shift_line(s: SpendShift) -> str:
    return (
        f"{s.level} {s.name}: {s.baseline_share:.1%} → {s.share:.1%} of spend ({s.shift_points:+.1f} points,"
        f" {format_money(s.spend)})"
    )


def congruence_line(c: ScalingCongruence) -> str:
    grew = "new spend" if c.spend_change is None else f"spend {pct(c.spend_change)}"
    score = "n/a" if c.congruence_score is None else f"{c.congruence_score:.2f}"
    return f"{c.ad_name}: {grew} ({format_money(c.baseline_period_spend)} → {format_money(c.spend)}), congruence {score}; {c.problems}"


def more(lines: list[str]) -> list[str]:
    return [f"…and {len(lines) - MOST} more in the app"] if len(lines) > MOST else []


def dates(window: WindowInfo) -> str:
    return str(window.since) if window.since == window.until else f"{window.since} to {window.until}"


def summary(b: Briefing) -> str:
    head = (
        f"{b.brand}, {b.current.label} ({dates(b.current)}) against {b.baseline.label}"
        f" ({b.baseline.since} to {b.baseline.until}): spend {format_money(b.spend)} vs {format_money(b.baseline_period_spend)}"
        f" per baseline {b.period}; baseline ROAS {format_metric('roas', b.baseline_roas)}, CPA"
        f" {format_metric('cpa', b.baseline_cpa)}."
    )
    if b.nothing_changed:
        return f"{head} Nothing changed beyond the thresholds: no new winners or losers, hooks steady, no spend shifts, no scaling ad with congruence problems."
    counts = [
        (len(b.winners), "new winner", "new winners"),
        (len(b.losers), "new loser", "new losers"),
        (sum(h.trend == "fatiguing" for h in b.hooks), "fatiguing hook", "fatiguing hooks"),
        (sum(h.trend == "gaining" for h in b.hooks), "gaining hook", "gaining hooks"),
        (len(b.spend_shifts), "spend shift", "spend shifts"),
        (len(b.congruence), "scaling ad with congruence problems", "scaling ads with congruence problems"),
    ]
    said = ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)
    return f"{head} Changed: {said}."


def cut(text: str, most: int = 2900) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, 150)}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text)}}
