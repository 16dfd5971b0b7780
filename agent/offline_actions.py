"""Plain English that acts on ads, for the offline router: "pause ad 1202…", "resume ads 1202…, 1202…",
"pause the bottom 3" (the ads of the last ranking in this conversation), "raise the budget of ad set
1202… by 20%". Each becomes the tool's preview call: nothing is written until the person confirms."""

from __future__ import annotations

import re
from typing import Any, cast

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)

_VERB = re.compile(
    r"^\s*(?:please\s+|can you\s+|let'?s\s+)?(pause|stop|turn off|resume|unpause|restart|turn on|reactivate)\b"
)
_IDS = re.compile(r"\b\d{6,30}\b")
_THOSE = re.compile(
    r"\b(?:the\s+)?(?P<end>bottom|worst|top|best|first|last)\s*(?P<n>\d{1,2})?\b|\b(?P<all>those|them|these|all of them)\b"
)
_BUDGET = re.compile(r"\bbudget\b")
_OBJECT = re.compile(r"\b(?P<kind>ad ?set|campaign)\s+(?:id\s+)?(?P<id>\d{6,30})\b")
_DAILY = re.compile(
    r"\$?\s*(?P<amount>\d+(?:\.\d{1,2})?)\s*(?:a|per|/)\s*day\b|\bdaily\s+(?:budget\s+)?(?:to|of)\s+\$?(?P<to>\d+(?:\.\d{1,2})?)"
)
_PERCENT = re.compile(r"(?P<pct>\d{1,3}(?:\.\d+)?)\s*%")
_DOWN = re.compile(r"\b(lower|cut|reduce|decrease|drop|down)\b")
_UNDO = re.compile(r"^\s*(?:please\s+)?undo\b.*?\b(?P<id>[0-9a-f]{8}(?:[0-9a-f-]{0,28}))\b")
_WHO_MAY = re.compile(
    r"\b(who can|who may|allow|let|enable|disable|turn (?:on|off)|switch (?:on|off))\b.{0,40}"
    r"\b(change|changing|write|writes|writing|edit|pause|pausing)\b.{0,30}\b(ads?|meta|facebook)\b"
)
_AUDIT = re.compile(
    r"\b(who|what)\b.{0,30}\b(paused|resumed|changed|re-?budgeted)\b.{0,30}\b(ads?|meta|budgets?)\b"
    r"|\b(change|action|audit)s?\s+(log|history|trail)\b|\baudit\b"
)
SHOW_A_RANKING = (
    "Which ads? Rank them first (e.g. 'worst ads for {brand} this week'), then say 'pause the bottom 3'; or give"
    " their ids: pause ads 1202…, 1202…."
)


def _ranking(history: list[ModelMessage]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The last ad ranking in the conversation: (its arguments, the result the model saw)."""
    calls: dict[str, dict[str, Any]] = {}
    found: tuple[dict[str, Any], dict[str, Any]] | None = None
    for message in history:
        for part in message.parts:
            if isinstance(part, ToolCallPart) and part.tool_name == "ad_performance":
                calls[part.tool_call_id] = part.args_as_dict()
            if (
                isinstance(message, ModelRequest)
                and isinstance(part, ToolReturnPart)
                and part.tool_name == "ad_performance"
                and isinstance(part.content, dict)
            ):
                content = cast("dict[str, Any]", part.content)
                found = (calls.get(part.tool_call_id, {}), content)
    return found


def _those(text: str, history: list[ModelMessage], brand: str) -> list[str] | str:
    """The ids 'the bottom 3' (or 'those') means in the last ranking, or what to say instead."""
    wanted = _THOSE.search(text)
    ranking = _ranking(history)
    if wanted is None or ranking is None:
        return SHOW_A_RANKING.format(brand=brand)
    args, result = ranking
    rows = [str(r.get("meta_ad_id")) for r in result.get("rows") or [] if isinstance(r, dict)]
    if not rows:
        return "The last ranking listed no ads: nothing to pick from."
    order = str(result.get("order") or args.get("order") or "top")
    end = wanted.group("end")
    n = int(wanted.group("n") or (len(rows) if wanted.group("all") or end is None else 1))
    if end in ("bottom", "worst") and order != "bottom":
        return f"The last ranking shows the top ads: ask for the worst ones first (e.g. 'worst ads for {brand} this week')."
    return rows[:n]


def action_call(
    text: str, *, named: str | None, thread: str | None, history: list[ModelMessage]
) -> ModelResponse | None:
    """The preview call for a clear request to act on ads, a question back when it lacks the ads, or
    None when the message is not one (e.g. 'pause the classification schedule')."""
    t = text.lower()
    verb = _VERB.search(t)
    brand = named or _ranking_brand(history) or thread  # "the bottom 3" are the last ranking's brand's
    if undo := _UNDO.search(t):
        return ModelResponse(parts=[ToolCallPart(tool_name="undo", args={"action": undo.group("id")})])
    for pattern, tool in ((_WHO_MAY, "ad_writes"), (_AUDIT, "actions")):
        if pattern.search(t):
            if brand is None:
                return ModelResponse(parts=[TextPart("Which brand? Name it, e.g. '… for Acme Pets'.")])
            args = {"brand": brand}
            if tool == "ad_writes" and (
                allow := re.search(r"\b(members|everyone|admins|off|disable|stop)\b", t)
            ):
                word = allow.group(1)
                args["allow"] = {"everyone": "members", "disable": "off", "stop": "off"}.get(word, word)
            return ModelResponse(parts=[ToolCallPart(tool_name=tool, args=args)])
    if _BUDGET.search(t) and (target := _OBJECT.search(t)):
        return _budget_call(t, target, brand=brand)
    if verb is None or re.search(r"\bschedul|\bsync|\bjobs?\b", t):
        return None
    ids = _IDS.findall(t)
    if not ids and not (re.search(r"\bads?\b", t) or _THOSE.search(t)):
        return None
    if brand is None:
        return ModelResponse(
            parts=[TextPart("Which brand are these ads in? Name it, e.g. 'pause ad 1202… for Acme Pets'.")]
        )
    picked = ids or _those(t, history, brand)
    if isinstance(picked, str):
        return ModelResponse(parts=[TextPart(picked)])
    tool = "pause_ads" if verb.group(1) in ("pause", "stop", "turn off") else "resume_ads"
    return ModelResponse(parts=[ToolCallPart(tool_name=tool, args={"brand": brand, "ads": ",".join(picked)})])


def _ranking_brand(history: list[ModelMessage]) -> str | None:
    ranking = _ranking(history)
    return str(ranking[0].get("brand") or ranking[1].get("brand")) if ranking else None


def _budget_call(t: str, target: re.Match[str], *, brand: str | None) -> ModelResponse:
    if brand is None:
        return ModelResponse(parts=[TextPart("Which brand is it in? Name it, e.g. '… for Acme Pets'.")])
    kind = "campaign" if target.group("kind") == "campaign" else "adset"
    args: dict[str, Any] = {"brand": brand, kind: target.group("id")}
    rest = t[: target.start()] + t[target.end() :]
    if (pct := _PERCENT.search(rest)) is not None:
        args["change"] = f"{'-' if _DOWN.search(rest) else '+'}{pct.group('pct')}%"
    elif (daily := _DAILY.search(rest)) is not None:
        amount = float(daily.group("amount") or daily.group("to"))
        args["daily"] = int(amount) if amount.is_integer() else amount
    else:
        return ModelResponse(parts=[TextPart("To what? Say e.g. '$60 a day' or 'by 20%'.")])
    return ModelResponse(parts=[ToolCallPart(tool_name="set_budget", args=args)])
