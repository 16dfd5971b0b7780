"""The offline model: a deterministic router standing in for an LLM when no key is set.

Slash commands run exactly; plain English is routed by intent keywords, fuzzy brand names
and date phrases. It says plainly what it can't understand and how to get full conversation.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from rapidfuzz import fuzz

from agent.offline_actions import action_call
from agent.slash import help_text, is_slash, parse_slash
from core.errors import UserFacingError
from services.periods import PeriodReading, read_period
from services.windows import resolve_window
from tools.registry import get_spec

CANNOT_UNDERSTAND = (
    "I'm the offline assistant, so I understand slash commands (type /help) and simple questions like "
    '"top hooks for {brand} last 30 days", "worst ads for {brand} this week" or '
    '"congruence summary for {brand}". For full conversation, set ANTHROPIC_API_KEY '
    "(or GEMINI_API_KEY) and start again."
)

_AD_ID = re.compile(r"\b(\d{6,20})\b")

# (pattern, metric) in priority order; the first match names the metric.
_METRIC_WORDS: list[tuple[str, str]] = [
    (r"\bhold rate\b|\bheld\b|\bhold\b|\bkept watching\b|\bretention\b", "hold_rate"),
    (r"thruplay|watch(ed)? through|completion", "thruplay_rate"),
    (r"\bhook rate\b|thumb.?stop|stop(ped)? the scroll|\battention\b", "hook_rate"),
    (r"\bctr\b|click.?through|\bclicks?\b", "ctr"),
    (r"\broas\b|return on ad spend|\breturn\b", "roas"),
    (r"\bcpa\b|cost per (purchase|acquisition|conversion)", "cpa"),
    (r"\bcpc\b|cost per click", "cpc"),
    (r"\bcpm\b", "cpm"),
    (r"\bspend\b|\bspent\b|\bspending\b", "spend"),
]
_FATIGUE = re.compile(
    r"fatigu|burn(ing|ed|t)?[ -]?out|wear(ing)?[ -]out|worn[ -]out|\btired\b|frequency.{0,15}high|high freq"
    r"|frequency.{0,15}(ris|climb|increas|going up|\bup\b)"
)
_HOOK_METRICS = {"hook_rate", "hold_rate", "thruplay_rate", "ctr", "cpa", "roas"}
WINDOW_TOOLS = {
    "top_hooks",
    "hook_analysis",
    "congruence_check",
    "congruence_summary",
    "deep_analysis",
    "ad_performance",
    "fatigue",
    "summary",
    "compare",
}
"""The tools that take days/since/until: a period in the message always reaches them."""

# A capitalised name after "for"/"about"/"of"/"on" ("top hooks for Peak Fuel"), or anything after "what about".
_NAMED = re.compile(
    r"\b(?:for|about|of|on)\s+(?P<name>[A-Z0-9][\w'&.-]*(?:\s+(?:&\s+)?[A-Z0-9][\w'&.-]*){0,4})"
    r"|\b(?:what|how)\s+about\s+(?P<any>[^?.!,;]+)",
)
# Words after "for"/"about" that name what to look at, not whose: a name made only of these is no brand.
_NOT_BRAND_WORDS = {
    "the", "my", "our", "a", "an", "all", "each", "this", "that", "it", "them", "me", "us", "i", "ad", "ads",
    "hook", "hooks", "brand", "brands", "campaign", "campaigns", "roas", "ctr", "cpa", "cpc", "cpm", "spend",
    "hold", "rate", "meta", "facebook", "instagram", "tiktok", "ugc", "cta", "lp", "aov", "vsl", "video",
    "videos", "static", "statics", "carousel", "carousels", "reel", "reels", "story", "stories", "reddit",
    "slack", "google", "amazon", "shopify", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
    "sunday",
}  # fmt: skip


@dataclass(frozen=True)
class RouterContext:
    """What the router knows besides the conversation: the caller's brands, today's date and the
    thread's brand (the chat's brand picker), used when a message names none."""

    brand_names: list[str]
    today: date
    brand: str | None = None
    brand_today: dict[str, date] = field(default_factory=dict)
    """Each brand's today where its accounts' timezone puts it on another date than the person's."""

    def today_for(self, text: str) -> date:
        """Today as the brand the message is about counts days (the person's for none named)."""
        brand = _brand(text.lower(), self.brand_names) or self.brand
        return self.brand_today.get(brand or "", self.today)


def _metric(text: str) -> str | None:
    for pattern, metric in _METRIC_WORDS:
        if re.search(pattern, text):
            return metric
    return None


def _brand(text: str, names: list[str]) -> str | None:
    t = " ".join(text.casefold().split())
    for name in sorted(names, key=len, reverse=True):
        if name.casefold() in t:
            return name
    if len(t) < 4:  # a partial match of almost nothing (" ", "ab") would match every name
        return None
    best: tuple[float, str | None] = (0.0, None)
    for name in names:
        score = fuzz.partial_ratio(name.casefold(), t)
        if score > best[0]:
            best = (score, name)
    return best[1] if best[0] >= 85 else None


def _named_brand(text: str, names: list[str], reading: PeriodReading) -> str | None:
    """The brand a message names: one of the caller's, or a name they can't see, passed on as typed so
    the tool answers "No brand named …" rather than the thread's previous brand answering instead."""
    for words in (
        reading.period.words if reading.period else "",
        reading.unplaced.words if reading.unplaced else "",
    ):
        text = text.replace(words, " ") if words else text
    if known := _brand(text.lower(), names):
        return known
    for m in _NAMED.finditer(text):
        name = re.sub(r"'s$", "", " ".join((m["name"] or m["any"] or "").split()).rstrip(".'"))
        tokens = name.casefold().split()
        if (
            all(w in _NOT_BRAND_WORDS or w.isdigit() for w in tokens)
            or _metric(name.lower())
            or _intent(name)
        ):
            continue
        # Part of exactly one of the caller's names ("Acme" for Acme Pets) means that brand.
        partial = [n for n in names if name.casefold() in n.casefold()]
        return partial[0] if len(partial) == 1 else name
    return None


def _intent(text: str) -> str | None:
    t = text.lower()
    if re.search(r"\bbrief(ing)?\b|brief me|what(?:'s| has| have)? changed|what changed|anything (new|change)|"
                 r"what'?s new\b|\bthe delta\b", t):  # fmt: skip
        return "briefing"
    if re.search(
        r"\bcongruen|message match|(landing page|lp).{0,30}(match|align)|(match|align).{0,30}(landing page|lp)",
        t,
    ):
        if _AD_ID.search(t) or re.search(r"\bcheck\b|per ad|which ads|each ad", t):
            return "congruence_check"
        return "congruence_summary"
    if re.search(r"\bdeep\b|\bbreak ?down\b|tell me (about|everything)|analy[sz]e (this |the )?ad", t) and (
        _AD_ID.search(t) or "ad" in t
    ):
        return "deep_analysis"
    if _FATIGUE.search(t):
        return "fatigue"
    if re.search(r"\bhooks?\b", t) and re.search(
        r"categor|kinds? of|types? of|hook types|which type|style|hook analysis", t
    ):
        return "hook_analysis"
    if re.search(r"\bhooks?\b|thumb.?stop|\bopening|\bopeners?\b|\bfirst lines?\b|\bscroll", t):
        return "top_hooks"
    if re.search(r"\b(my|our|which|what|list( my)?) brands\b|what data", t):
        return "brands"
    if totals := _totals_intent(t):
        return totals
    if re.search(
        r"perform|winner|loser|\bbest\b|\bworst\b|\btop\b|\bbottom\b|\broas\b|\bcpa\b|\bctr\b|\bcpc\b|\bcpm\b"
        r"|\bspend\b|\bads?\b.*(doing|working)|\bwasting\b",
        t,
    ):
        return "ad_performance"
    return _workspace_intent(t)


# The workspace tools (setup, Meta, jobs, research, creative), one rule each, tried after the reporting
# tools above; the first match wins, so a more specific rule comes before a broader one.
_WORKSPACE_RULES: list[tuple[str, str]] = [
    (r"\bhow many tokens\b|\btokens? (used|usage)\b|\b(model|ai|claude|gemini) usage\b", "usage"),
    (r"\bslack\b|#[a-z0-9][\w-]*", "slack_channel"),
    (r"\bnotifications?\b|\bunread\b", "notifications"),
    (r"\bact_\d+|\bad account \d+", "meta_account"),
    (r"\bblueprint|section by section|\brebuild\b", "blueprint"),
    (r"https?://\S+.{0,40}\bvariant|\bvariant.{0,40}https?://", "promote_lp_to_variant"),
    (r"\b(make|create|generate|produce|design)\b.{0,30}\b(ads?|ad images?|creatives?|images)\b", "create_ads"),
    (r"\bauto.?recommend|\btemplates?\b.{0,20}\bauto|\bauto\b.{0,20}\btemplates?", "template_auto"),
    (r"\b(approve|reject)\b.{0,10}\btemplates?\b", "review_templates"),
    (r"\btemplates?\b.{0,30}\b(recommend|fit|suit)|\b(recommend|suggest)\b.{0,20}\btemplates?", "recommend_templates"),
    (r"\btemplates?\b", "templates"),
    (r"\bvt-[0-9a-f]{4,}", "link_generated_ad"),
    (r"\b(add|create|new|archive|unarchive|rename)\b.{0,12}\bbrand\b", "brand"),
    (r"\bschedul|\bnext\b.{0,30}\b(run|sync)\b", "schedules"),
    (r"\bjobs?\b|\bfail(ed|ing|ures?)?\b|\bbackground\b", "jobs"),
    (r"\bclassif", "classify"),
    (r"\bconnect (my |our )?(facebook|meta|fb)|\bhow do i connect\b", "connect_meta"),
    (r"\b(meta|facebook|fb)\b.{0,30}\b(connected|status|token|expir)|\b(last|latest) sync(ed)?\b"
     r"|\bsync(ed)? .{0,20}\blast\b|\bwhen did\b.{0,40}\bsync", "meta_status"),
    (r"https?://", "analyze_landing_page"),
    (r"\bcompetitor|\bad library\b", "competitor_ads"),
    (r"\b(re-?)?(sync|pull|refresh|fetch|import)\b.{0,40}\b(meta|facebook|fb|ads)\b", "sync_meta"),
    (r"\breddit\b", "research_reddit"),
    (r"\bpersona|\bwho is our customer|\bcustomer avatar", "synthesize_persona"),
    (r"\bvariants?\b", "discover_variants"),
    (r"\b(landing pages?|lps?)\b.{0,30}\b(analy[sz]ed|analys[ie]s)\b|\banalys[ie]s\b.{0,20}\blanding", "landing_page_analyses"),
    (r"\bpatterns?\b|\bthemes?\b|\brecurring\b", "discover_patterns"),
    (r"\bgaps?\b|\bwhat'?s missing\b|\b(empty|blank|unfilled)\b", "content_gaps"),
    (r"\bproducts?\b|\bcatalog", "products"),
]  # fmt: skip


def _workspace_intent(t: str) -> str | None:
    for pattern, tool in _WORKSPACE_RULES:
        if re.search(pattern, t):
            return tool
    return None


_SUMMARY_WORDS = re.compile(
    r"\bhow much\b.*\b(?:spen[dt]|spending|revenue|sales|made?)\b|\btotals?\b|\boverall\b|\bsummar(?:y|ise|ize)\b"
    r"|\bhow many\s+(?:purchases|sales|orders|conversions|clicks|link clicks|impressions)\b"
    r"|\bkpis?\b|\bwhat(?:'s| was| is| were| are)\s+(?:our|my|the)\s+(?:total\s+|overall\s+|blended\s+)?"
    r"(?:roas|spend|cpa|ctr|revenue|sales|purchases)\b"
)
_COMPARE_WORDS = re.compile(r"\bcompar(?:e|ed|ing|ison)\b|\bvs\b\.?|\bversus\b|\b(?:better|worse) than\b")


def _totals_intent(t: str) -> str | None:
    """'How much did we spend…', 'what was our ROAS…', 'totals for…' → summary; 'X vs Y', 'compare…' → compare."""
    ranking = re.search(r"\b(?:best|worst|top|bottom|winners?|losers?|most|least|rank\w*|which ads?)\b", t)
    if _COMPARE_WORDS.search(t) or (re.search(r"\bagainst\b", t) and not ranking):  # not "best ads against…"
        return "compare"
    return "summary" if _SUMMARY_WORDS.search(t) and not ranking else None


_VS = re.compile(r"\s+(?:vs\.?|versus|against|compared\s+(?:to|with))\s+", re.IGNORECASE)
_AND = re.compile(r"\s+(?:and|with|to)\s+", re.IGNORECASE)
_FILLER = re.compile(
    r"\b(?:please|can you|let'?s|compare|comparing|comparison|how|did|does|do|was|is|were|of|for|on|in|the|between)\b"
    r"|[?.!,;:]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Side:
    brand: str | None
    reading: PeriodReading


def _compare_sides(text: str, names: list[str], today: date) -> list[_Side]:
    """The two sides of a comparison ("this week vs last week", "Acme Pets and Peak Fuel"), each with
    the brand and period it names; one side when the message names only one thing."""
    parts = _VS.split(text, maxsplit=1)
    sides = [_compare_side(p, names, today) for p in parts]
    if len(sides) == 1:  # "compare Acme Pets and Peak Fuel": two brands, or no split at all
        halves = [_compare_side(p, names, today) for p in _AND.split(text, maxsplit=1)]
        if len(halves) == 2 and (all(h.brand for h in halves) or all(h.reading.period for h in halves)):
            sides = halves
    return sides


def _compare_side(words: str, names: list[str], today: date) -> _Side:
    reading = read_period(words, today=today)
    brand = _named_brand(words, names, reading)
    if brand is None:  # a name the caller may not have, said bare: what is left once the period is out
        for taken in (
            reading.period.words if reading.period else "",
            reading.unplaced.words if reading.unplaced else "",
        ):
            words = words.replace(taken, " ") if taken else words
        rest = " ".join(_FILLER.sub(" ", words).split())
        tokens = rest.casefold().split()
        if (
            tokens
            and not all(w in _NOT_BRAND_WORDS or w.isdigit() for w in tokens)
            and not _metric(rest.lower())
        ):
            brand = rest
    return _Side(brand, reading)


def _compare_call(text: str, *, context: RouterContext, previous: ToolCallPart | None) -> ModelResponse:
    """compare: two periods of one brand (since/until, vs_since/vs_until) or two brands (brand, vs_brand)."""
    sides = _compare_sides(text, context.brand_names, context.today_for(text))
    first, second = sides[0], sides[-1]
    brand = (
        first.brand
        or second.brand
        or context.brand
        or (previous.args_as_dict().get("brand") if previous else None)
    )
    if brand is None and len(context.brand_names) == 1:
        brand = context.brand_names[0]
    if brand is None:
        names = ", ".join(context.brand_names) or "none yet"
        return ModelResponse(parts=[TextPart(f"Which brand? Your brands: {names}.")])
    periods = [s.reading.period for s in sides if s.reading.period is not None]
    args: dict[str, Any] = {"brand": brand, **(periods[0].tool_args() if periods else {})}
    vs_brand = second.brand if len(sides) == 2 and second.brand and second.brand != brand else None
    if vs_brand:
        args["vs_brand"] = vs_brand
    if len(periods) == 2 and (periods[0].since, periods[0].until) != (periods[1].since, periods[1].until):
        args.update(vs_since=periods[1].since.isoformat(), vs_until=periods[1].until.isoformat())
    return ModelResponse(parts=[ToolCallPart(tool_name="compare", args=args)])


def _compare_note(question: str, *, today: date) -> str | None:
    """Words on either side of a comparison that could not be placed as dates, said first."""
    for side in _compare_sides(question, [], today):
        if (unplaced := side.reading.unplaced) is not None:
            said = (
                f"'{unplaced.words}' {unplaced.reason}"
                if unplaced.reason
                else f"I couldn't read '{unplaced.words}' as dates"
            )
            return f"{said}."
    return None


_URL = re.compile(r"https?://[^\s\"'<>]+")
_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”')
_CAPITALISED = r"[A-Z][\w'&.-]*(?:\s+(?:&\s+)?[A-Z][\w'&.-]*){0,4}"


def _brand_word(t: str, names: list[str]) -> str | None:
    """A brand's first word alone ("acme", "bloom") as a whole word of the message, when it is exactly
    one of the caller's brands."""
    found = {
        n
        for n in names
        if len(first := n.split()[0].casefold()) >= 4 and re.search(rf"\b{re.escape(first)}\b", t)
    }
    return found.pop() if len(found) == 1 else None


def _url(text: str) -> str | None:
    m = _URL.search(text)
    return m.group(0).rstrip(".,;:!?)") if m else None


def _product(text: str, brand_names: list[str]) -> str | None:
    """The product a message names: in quotes, or a capitalised name after "for"/"of" that is no brand."""
    if m := _QUOTED.search(text):
        return m[1] or m[2]
    for m in re.finditer(rf"\b(?:for|of)\s+({_CAPITALISED})", text):
        name = m[1].rstrip(".'")
        if not any(name.casefold() in n.casefold() or n.casefold() in name.casefold() for n in brand_names):
            return name
    return None


def _new_brand(text: str) -> str | None:
    if m := _QUOTED.search(text):
        return m[1] or m[2]
    m = re.search(rf"\b(?:called|named)\s+({_CAPITALISED})", text) or re.search(
        rf"\bbrand\s+({_CAPITALISED})", text
    )
    return m[1] if m else None


def _workspace_args(tool: str, text: str, *, named: str | None, brand_names: list[str]) -> dict[str, Any]:
    """The arguments a workspace tool's rule reads from the message (ids, links, names, switches)."""
    t = text.lower()
    args: dict[str, Any] = {}
    if tool == "jobs" and re.search(r"\bfail", t):
        args["view"] = "failed"
    elif tool == "notifications":
        if re.search(r"\bmark\b.{0,30}\bread\b", t):
            args["mark_all_read"] = True
        elif re.search(r"\bunread\b|\bnew\b", t):
            args["unread"] = True
    elif tool == "slack_channel" and (m := re.search(r"#[a-z0-9][\w-]*", t)):
        args["channel"] = m.group(0)
    elif tool == "templates" and (
        m := re.search(r"\b(pending|rejected|approved)\b|\b(waiting|awaiting|queue)", t)
    ):
        args["status"] = m[1] or "pending"
    elif tool == "review_templates":
        ids = re.findall(r"\b(?=[0-9a-f]*\d)[0-9a-f]{6,36}\b", t)
        if ids:
            args["ids"] = ",".join(ids)
        args["decision"] = "reject" if re.search(r"\breject", t) else "approve"
    elif tool in ("template_auto", "create_ads", "recommend_templates"):
        if product := _product(text, brand_names):
            args["product"] = product
        if tool == "template_auto":
            args["enabled"] = not re.search(r"\b(off|disable|stop)\b", t)
        if tool == "create_ads":
            if m := re.search(r"\b(\d{1,2})\b", t):
                args["count"] = int(m[1])
            if re.search(r"\bupload|\bour own\b", t):
                args["source"] = "uploaded"
    elif tool == "link_generated_ad":
        if m := re.search(r"\bvt-[0-9a-f]{4,}", t):
            args["ad"] = m.group(0)
        if m := _AD_ID.search(t):
            args["meta_ad"] = m[1]
    elif tool == "meta_account" and (m := re.search(r"\bact_\d+|\b\d{6,20}\b", t)):
        args["account"] = m.group(0)
    elif tool in ("analyze_landing_page", "promote_lp_to_variant") and (url := _url(text)):
        args["url"] = url
    elif tool == "blueprint":
        if url := _url(text):
            args["landing_page"] = url
        if m := re.search(r"\b(docx|pdf|json|markdown)\b", t):
            args["format"] = "md" if m[1] == "markdown" else m[1]
    elif tool == "research_reddit" and (
        m := re.search(r"\b(?:about|for|on)\s+(?!reddit\b)(.+?)(?=\s+for\s|\s+on reddit|[?.!,;:]|$)", t)
    ):
        query = m[1].strip()
        if not any(query == n.casefold() for n in brand_names):
            args["query"] = query
    elif tool == "competitor_ads" and (m := re.search(r"\b\d{6,20}\b", t)):
        args["page"] = m.group(0)
    elif tool == "brand":
        # Exact names only: a near miss of an existing brand ("Acme Petz") is a new brand's name.
        name = next((n for n in brand_names if n.casefold() in t), None) or _new_brand(text)
        if name:
            args["name"] = name
        if m := re.search(r"\b(unarchive|archive)\b", t):
            args["action"] = m[1]
        if url := _url(text):
            args["website"] = url
    return args


def _last_tool_call(messages: list[ModelMessage]) -> ToolCallPart | None:
    for message in reversed(messages[:-1]):
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    return part
    return None


def route(text: str, *, context: RouterContext, history: list[ModelMessage]) -> ModelResponse:
    """One plain-English message → a tool call, or a plain answer saying what is missing."""
    t = text.lower()
    if re.fullmatch(r"\s*(help|what can you do\??|\?)\s*", t):
        return ModelResponse(parts=[TextPart(help_text())])
    said = next((n for n in sorted(context.brand_names, key=len, reverse=True) if n.casefold() in t), None)
    acted = action_call(
        text, named=said or _brand_word(t, context.brand_names), thread=context.brand, history=history
    )
    if acted is not None:
        return acted
    tool = _intent(t)
    previous = _last_tool_call(history)
    if tool == "compare":
        return _compare_call(text, context=context, previous=previous)
    reading = read_period(text, today=context.today_for(text))
    window = reading.period.tool_args() if reading.period else {}
    named = _named_brand(text, context.brand_names, reading)
    args: dict[str, Any] = {}
    # A follow-up ("and for the last 90 days?", "what about Bloom?") reuses the last question.
    if tool is None and previous is not None and (window or reading.unplaced or named or _metric(t)):
        tool = previous.tool_name
        kept = previous.args_as_dict()
        args = {k: v for k, v in kept.items() if k not in ("days", "since", "until") or not window}
    example_brand = context.brand_names[0] if context.brand_names else "Acme Pets"
    if tool is None:
        return ModelResponse(parts=[TextPart(CANNOT_UNDERSTAND.format(brand=example_brand))])
    spec = get_spec(tool)
    takes_brand = spec is None or "brand" in spec.arguments  # a tool not registered yet: as the others
    if spec is not None and "brand" in spec.arguments and "brand" not in spec.required:
        # An optional brand (meta_status, schedules, …) is passed only when the message names one.
        optional = named or _brand_word(t, context.brand_names)
        if optional:
            args["brand"] = optional
    elif takes_brand and tool != "brand":
        # The message's brand wins over the thread's, even one the caller can't see (the tool says so).
        brand = named or _brand_word(t, context.brand_names) or args.get("brand") or context.brand
        if brand is None and previous is not None:
            brand = previous.args_as_dict().get("brand")
        if brand is None and len(context.brand_names) == 1:
            brand = context.brand_names[0]
        if brand is None:
            names = ", ".join(context.brand_names) or "none yet"
            return ModelResponse(parts=[TextPart(f"Which brand? Your brands: {names}.")])
        args["brand"] = brand
        if tool in WINDOW_TOOLS:
            args.update(window)
    args.update(_workspace_args(tool, text, named=named, brand_names=context.brand_names))
    metric = _metric(t)
    if tool == "fatigue":  # said either way, so the answer's table is never a guess
        args["by"] = "hook" if re.search(r"\bhooks?\b", t) else "ad"
    if tool == "top_hooks" and metric in _HOOK_METRICS:
        args["metric"] = metric
    if tool == "ad_performance":
        if metric:
            args["sort"] = metric
        if re.search(r"\bworst\b|\bloser|\bbottom\b|underperform|\bwasting\b|\bpoor", t):
            args["order"] = "bottom"
    if tool == "briefing":
        args.pop("days", None), args.pop("since", None), args.pop("until", None)
        args["period"] = "week" if re.search(r"\bweek|\b7 days|seven days", t) else "day"
    if tool in ("deep_analysis", "congruence_check"):
        ad = _AD_ID.search(t)
        if ad:
            args["ad"] = ad.group(1)
        elif tool == "deep_analysis":
            return ModelResponse(
                parts=[TextPart("Which ad? Give its Meta ad ID, e.g. deep analysis of ad 1202...")]
            )
    if spec is not None and (missing := [a for a in spec.required if a not in args]):
        return ModelResponse(
            parts=[TextPart(f"I need the {' and '.join(missing)} for that; for example `{spec.example}`.")]
        )
    return ModelResponse(parts=[ToolCallPart(tool_name=tool, args=args)])


def _result_text(part: ToolReturnPart | RetryPromptPart) -> str:
    content: Any = part.content
    if isinstance(part, RetryPromptPart):
        return content if isinstance(content, str) else "; ".join(str(e.get("msg")) for e in content)
    if hasattr(content, "summary"):
        return str(content.summary)
    if isinstance(content, dict) and "summary" in content:
        return str(content["summary"])
    return str(content)


def period_note(messages: list[ModelMessage], *, today: date) -> str | None:
    """What the answer must say first when it is not for the period the question named: the words it
    could not place (or could not apply) and the window answered instead."""
    prompts = [
        p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, UserPromptPart)
    ]
    question = str(prompts[-1].content) if prompts else ""
    if is_slash(question):  # a command's arguments are exact
        return None
    reading = read_period(question, today=today)
    call = _last_tool_call([*messages, ModelRequest(parts=[])])
    period = reading.period
    if (
        call
        and call.tool_name == "briefing"
        and period
        and not re.search(r"week|yesterday|\b7 days", period.words)
    ):
        return f"A briefing covers yesterday or the last 7 days, not '{period.words}'."
    if call is not None and call.tool_name == "compare":
        return _compare_note(question, today=today)
    if reading.unplaced is None:
        return None
    words, reason = reading.unplaced.words, reading.unplaced.reason
    said = f"'{words}' {reason}" if reason else f"I couldn't read '{words}' as dates"
    if call is None or call.tool_name not in WINDOW_TOOLS:
        return f"{said}."
    args = call.args_as_dict()
    try:
        window = resolve_window(
            today=today,
            days=args.get("days"),
            since=date.fromisoformat(args["since"]) if args.get("since") else None,
            until=date.fromisoformat(args["until"]) if args.get("until") else None,
        )
    except (UserFacingError, ValueError):  # the tool itself said what was wrong with the window
        return f"{said}."
    return f"{said}, so this answer covers {window.described}."


def offline_model(context: RouterContext) -> FunctionModel:
    """A FunctionModel that routes like the product's offline assistant."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        results = [p for p in last.parts if isinstance(p, ToolReturnPart | RetryPromptPart)]
        if results:
            text = "\n\n".join(_result_text(p) for p in results)
            note = period_note(messages, today=context.today)
            return ModelResponse(parts=[TextPart(f"{note}\n\n{text}" if note else text)])
        prompts = [p for p in last.parts if isinstance(p, UserPromptPart)]
        text = str(prompts[-1].content) if prompts else ""
        if is_slash(text):
            try:
                command = parse_slash(text, brand=context.brand)
            except UserFacingError as error:
                return ModelResponse(parts=[TextPart(error.message)])
            if command.tool == "help":
                return ModelResponse(parts=[TextPart(help_text(command.args.get("tool")))])
            return ModelResponse(parts=[ToolCallPart(tool_name=command.tool, args=command.args)])
        return route(text, context=context, history=messages)

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        # The same answer, streamed: text a line at a time (long lines in pieces of a dozen words),
        # tool calls whole. The text is ready at once; finer pieces would only cost the server.
        response = respond(messages, info)
        for index, part in enumerate(response.parts):
            if isinstance(part, ToolCallPart):
                yield {index: DeltaToolCall(name=part.tool_name, json_args=json.dumps(part.args_as_dict()))}
            elif isinstance(part, TextPart):
                for piece in text_pieces(part.content):
                    yield piece

    return FunctionModel(respond, stream_function=stream, model_name="offline")


def text_pieces(text: str, words_per_piece: int = 12) -> list[str]:
    """The text cut into lines (each with its newline), long lines into pieces of a dozen words;
    joined they give the text back exactly."""
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        words = line.split(" ")
        for start in range(0, len(words), words_per_piece):
            piece = " ".join(words[start : start + words_per_piece])
            pieces.append(piece if start == 0 else " " + piece)
    return pieces
