"""Turn tool results into tables a person reads (CLI now; the chat UI reuses the same tables)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.blueprints import BlueprintResult
from services.brands import BrandsResult
from services.congruence import CongruenceCheckResult, CongruenceSummaryResult
from services.deep_analysis import DeepAnalysisResult
from services.hooks import HookAnalysisResult, TopHooksResult
from services.meta_sync import MetaStatusResult, SyncResult
from services.metrics import RATIOS, format_metric
from services.performance import AdPerformanceResult
from services.server_files import shown_name
from services.template_recommendations import RecommendationResult, TemplatePick
from tools.actions import ActionButton
from tools.ad_creation import CreateAdsResult
from tools.briefings import briefing_tables
from tools.content_gaps import ContentGapsAnswer
from tools.jobs import JobsResult, short
from tools.landing_pages import landing_page_tables
from tools.notifications import NotificationsResult
from tools.patterns import PatternsAnswer, pattern_tables
from tools.personas import PersonaAnswer, persona_tables
from tools.research import research_tables
from tools.templates import ReviewAnswer, TemplatesResult
from tools.templates_auto import TemplateAutoResult


@dataclass
class Table:
    """Rows of raw values; `formatted()` for people reading text, `sortable()` for a table widget."""

    title: str
    columns: list[str]
    values: list[list[Any]]

    @property
    def rows(self) -> list[list[str]]:
        return [[_fmt(c, v) for c, v in zip(self.columns, row, strict=True)] for row in self.values]

    def sortable(self) -> tuple[list[str], list[list[Any]]]:
        """Numbers stay numbers (percentages ×100, money rounded) so a table widget sorts them right."""
        headers = [f"{c} (%)" if _is_pct(c) else c for c in self.columns]
        out = []
        for row in self.values:
            out.append([_sortable(c, v) for c, v in zip(self.columns, row, strict=True)])
        return headers, out


def _is_pct(name: str) -> bool:
    return (name in RATIOS and RATIOS[name].unit == "pct") or name == "aligned_pct"


def _sortable(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return round(value * 100, 2) if _is_pct(name) else round(value, 2)
    if isinstance(value, int | str):
        return value
    return str(value)


def _fmt(name: str, value: Any) -> str:
    if name in RATIOS or name in ("spend", "purchase_value", "spend_last_30_days"):
        return format_metric(name, value)
    if name in ("aligned_pct",):
        return "n/a" if value is None else f"{value * 100:.0f}%"
    if name == "vs_baseline":
        return "n/a" if value is None else f"{value:.2f}x"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    return "" if value is None else str(value)


def _rows(items: list[Any], fields: list[str]) -> list[list[Any]]:
    return [[getattr(item, f) for f in fields] for item in items]


def tables_for(result: BaseModel) -> list[Table]:
    """The tables that show this result in full."""
    if isinstance(result, JobsResult):
        tables = []
        if result.schedules:
            fields = ["job_type", "scope", "cron", "enabled", "next_run_at", "last_run_status"]
            rows = [[short(s.id), *(getattr(s, f) for f in fields)] for s in result.schedules]
            tables.append(Table("Schedules", ["id", *fields], rows))
        if result.runs:
            fields = ["job_type", "scope", "status", "attempts", "created_at", "duration_seconds", "error"]
            rows = [[short(r.id), *(getattr(r, f) for f in fields)] for r in result.runs]
            title = "Failed runs" if result.view == "failed" else "Recent runs"
            tables.append(Table(title, ["id", *fields], rows))
        return tables
    if isinstance(result, TemplatesResult | ReviewAnswer):
        fields = ["id", "name", "status", "category", "format", "tags", "source", "size"]
        rows = [
            [*row, shown_name(t.image_file) if t.image_file else None]
            for row, t in zip(_rows(result.templates, fields), result.templates, strict=True)
        ]
        return [Table("Templates", [*fields, "image_file"], rows)] if result.templates else []
    if isinstance(result, NotificationsResult):
        rows = [
            ["unread" if n.read_at is None else "read", n.created_at, n.title, n.message,
             "you" if n.personal else n.organization, n.category or n.type]
            for n in result.notifications
        ]  # fmt: skip
        return [Table("Notifications", ["status", "when", "title", "message", "for", "category"], rows)]
    if isinstance(result, MetaStatusResult):
        fields = ["brand", "account_id", "method", "status", "token_expires_at", "last_synced_at", "health"]
        return [Table("Meta connections", fields, _rows(result.connections, fields))]
    if isinstance(result, SyncResult):
        fields = [
            "account_id",
            "since",
            "until",
            "ads",
            "rows",
            "rows_written",
            "calls",
            "throttled",
            "error",
        ]
        return [Table("Meta sync", fields, _rows(result.accounts, fields))]
    if isinstance(result, BrandsResult):
        fields = [
            "name",
            "ads",
            "video_ads",
            "classified_ads",
            "products",
            "landing_pages",
            "reviews",
            "first_day",
            "last_day",
            "spend_last_30_days",
        ]
        return [Table("Brands", fields, _rows(result.brands, fields))]
    if isinstance(result, AdPerformanceResult):
        metric = [result.sort] if result.sort not in ("spend", "roas", "cpa", "ctr") else []
        fields = [
            "ad_name",
            "meta_ad_id",
            "format",
            "spend",
            *metric,
            "vs_baseline",
            "roas",
            "cpa",
            "ctr",
            "hook_rate",
            "purchases",
        ]
        base_fields = ["format", "ads", "spend", "roas", "cpa", "ctr", "hook_rate", "hold_rate"]
        return [
            Table(
                f"{result.order.title()} ads by {result.sort} — {result.brand}, {result.window.label}",
                fields,
                _rows(result.rows, fields),
            ),
            Table("Brand baseline per format", base_fields, _rows(result.baselines, base_fields)),
        ]
    if isinstance(result, TopHooksResult):
        extra = [m for m in ("hook_rate", "hold_rate", "ctr", "roas") if m != result.metric]
        fields = ["hook_text", "hook_category", "hook_type", "ad_name", "spend", result.metric, *extra]
        return [
            Table(
                f"Top hooks by {result.metric} — {result.brand}, {result.window.label}",
                fields,
                _rows(result.rows, fields),
            )
        ]
    if isinstance(result, HookAnalysisResult):
        fields = ["category", "ads", "video_ads", "spend", "hook_rate", "hold_rate", "ctr", "cpa", "roas"]
        return [
            Table(
                f"Hook categories — {result.brand}, {result.window.label}", fields, _rows(result.rows, fields)
            )
        ]
    if isinstance(result, CongruenceSummaryResult):
        fields = ["dimension", "aligned", "weak", "missing", "aligned_pct"]
        return [
            Table(
                f"Congruence by dimension — {result.brand}, {result.window.label}",
                fields,
                _rows(result.dimensions, fields),
            )
        ]
    if isinstance(result, CongruenceCheckResult):
        dims = [d.dimension for d in result.ads[0].dimensions] if result.ads else []
        rows = [
            [a.ad_name, a.meta_ad_id, a.spend, a.congruence_score] + [d.status for d in a.dimensions]
            for a in result.ads
        ]
        tables = [
            Table(
                f"Congruence per ad — {result.brand}",
                ["ad_name", "meta_ad_id", "spend", "score", *dims],
                rows,
            )
        ]
        if len(result.ads) == 1:
            fields = ["dimension", "status", "ad", "landing_page", "note"]
            tables.append(Table("Per dimension", fields, _rows(result.ads[0].dimensions, fields)))
        return tables
    if isinstance(result, DeepAnalysisResult):
        tables = []
        if result.performance is not None:
            p = result.performance
            metrics = [
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
            tables.append(
                Table(
                    f"Performance — {result.window.label}",
                    ["metric", "value"],
                    [[m, _fmt(m, getattr(p, m))] for m in metrics],
                )
            )
        if result.hooks:
            tables.append(
                Table(
                    "Hooks", ["type", "category", "text"], _rows(result.hooks, ["type", "category", "text"])
                )
            )
        if result.congruence:
            fields = ["dimension", "status", "note"]
            tables.append(Table("Congruence", fields, _rows(result.congruence, fields)))
        return tables
    if isinstance(result, CreateAdsResult):
        if result.ads:
            fields = ["position", "reference", "headline", "status", "image_path"]
            return [Table(f"Ads made — {result.product}", fields, _rows(result.ads, fields))]
        fields = ["position", "reference", "score"]
        return (
            [Table(f"Planned — {result.product}", fields, _rows(result.planned, fields))]
            if result.planned
            else []
        )
    if isinstance(result, TemplateAutoResult):
        fields = ["product", "brand", "enabled", "threshold"]
        return [Table("Template auto-recommendations", fields, _rows(result.products, fields))]
    if isinstance(result, RecommendationResult):
        return [_recommendation_table(result)] if result.rows else []
    if isinstance(result, BlueprintResult):
        return _blueprint_tables(result)
    if isinstance(result, PatternsAnswer):
        return [Table(title, columns, rows) for title, columns, rows in pattern_tables(result) if rows]
    if isinstance(result, PersonaAnswer):
        return [Table(title, columns, rows) for title, columns, rows in persona_tables(result) if rows]
    if isinstance(result, ContentGapsAnswer):
        return _gaps_tables(result)
    if b_tables := briefing_tables(result):
        return [Table(title, columns, rows) for title, columns, rows in b_tables]
    if lp_tables := landing_page_tables(result):
        return [Table(title, columns, rows) for title, columns, rows in lp_tables if rows]
    if found := research_tables(result):
        return [Table(title, columns, rows) for title, columns, rows in found if rows]
    return []


def _gaps_tables(result: ContentGapsAnswer) -> list[Table]:
    if result.fill is not None:
        f = result.fill
        rows = [["current", f.current], ["new value", f.new_value], *(["evidence", e] for e in f.evidence)]
        return [Table(f"Fill {f.target}", ["", "value"], rows)]
    if result.report is None:
        return []
    fields = ["target", "owner", "field", "sources", "suggestion"]
    tables = [Table(f"Content gaps — {result.report.brand}", fields, _rows(result.report.gaps, fields))]
    evidence = [[g.target, e] for g in result.report.gaps for e in g.evidence]
    if evidence:
        tables.append(Table("Evidence for the suggestions", ["target", "evidence"], evidence))
    fields = ["level", "owner", "voice_tone"]
    chain = _rows(result.report.voice_chain, fields)
    tables.append(Table("Voice/tone chain (first set wins)", fields, chain))
    return tables


def _blueprint_tables(result: BlueprintResult) -> list[Table]:
    if result.comparison:
        rows = [[row.section, *row.writes] for row in result.comparison]
        return [Table("Blueprints side by side", ["section", *result.compared_brands], rows)]
    content = result.blueprint.content if result.blueprint else None
    if content is None:
        return []
    fields = ["heading", "says", "why_it_works", "write_for_brand"]
    return [Table(f"Blueprint — {content.title}", fields, _rows(content.sections, fields))]


def _recommendation_table(result: RecommendationResult) -> Table:
    title = f"Templates for {result.product} — {result.methodology.replace('_', ' ')}"
    if result.methodology == "performance":
        fields = ["name", "category", "score", "ads", "spend", "roas", "cpa", "ctr", "used", "reason"]
        table = Table(title, fields, _rows(result.rows, fields))
        table.columns[2] = "smoothed_roas"
        return table
    fields = ["name", "category", "format", "score", "used", "reason"]
    rows = [
        [*row, str(pick.template_id)[:8]]
        for row, pick in zip(_rows(result.rows, fields), result.rows, strict=True)
    ]
    return Table(title, [*fields, "id"], rows)


def images_of(result: BaseModel) -> list[tuple[str, str]]:
    """(name, file or URL) of the pictures a result shows as a grid: template thumbnails."""
    if isinstance(result, TemplatesResult | ReviewAnswer):
        return [(f"{t.name} · {t.id}", t.image_file) for t in result.templates if t.image_file]
    if isinstance(result, CreateAdsResult):
        return [(f"Ad {a.position + 1} · {a.reference}", a.image_file) for a in result.ads if a.image_file]
    if isinstance(result, RecommendationResult):
        return [(_grid_caption(result, p), p.image_file) for p in result.rows if p.image_file]
    return []


def _grid_caption(result: RecommendationResult, pick: TemplatePick) -> str:
    score = (
        "n/a"
        if pick.score is None
        else (f"{pick.score:.2f}x" if result.methodology == "performance" else f"{pick.score:.0f}/100")
    )
    return f"{pick.name or 'Untitled'} · {score} · {pick.reason[:120]}"


def files_of(result: BaseModel) -> list[tuple[str, str]]:
    """(name, path) of the files a result offers for download: blueprint exports."""
    if isinstance(result, BlueprintResult):
        return [(f.name, f.path) for f in result.files]
    return []


def actions_of(result: BaseModel) -> list[ActionButton]:
    """The follow-ups a result offers: buttons in the chat, hints ("Retry: /jobs retry:…") in a shell."""
    actions = getattr(result, "actions", None)
    return [a for a in actions if isinstance(a, ActionButton)] if isinstance(actions, list) else []
