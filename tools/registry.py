"""One registry of tools feeding the agent, slash commands, the CLI `ask` and MCP."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from string import Formatter
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from core.errors import DatabaseUnavailable, InvalidArgument, UserFacingError
from services import money
from services.brands import resolve_brand
from services.calendar_days import PERSON_TIMEZONE, local_today
from services.storable import unstorable
from tools.arguments import explain
from tools.deps import Deps

if TYPE_CHECKING:  # Pydantic-AI is imported only where the agent is built: a slash command needs none of it
    from pydantic_ai import BinaryContent, Tool, ToolReturn
    from pydantic_ai.tools import ToolDefinition

ToolFunction = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=ToolFunction)
R = TypeVar("R", bound=BaseModel)
MENU_CHARS = 80
"""Longest description in the chat's Tools menu: longer ones are cut at a word."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as every surface sees it: name, description, arguments, an example, a step title."""

    name: str
    function: ToolFunction
    example: str
    args_model: type[BaseModel]
    step: str | tuple[str, ...]
    """What the step is called while it runs, e.g. 'Ranking hooks for {brand}, {window}'; with several,
    the first whose every {field} has a value ('Re-running blueprint {rerun}', then a plainer one)."""
    aliases: tuple[tuple[str, str], ...] = ()
    """Other names a slash command may use for an argument, e.g. ("from", "source") (a Python keyword)."""
    help: str = ""
    """What `/help TOOL` adds to the description: how it works, in prose the model does not need to
    choose and call the tool (its docstring is all the model reads, on every request)."""

    def step_title(self, args: dict[str, Any]) -> str:
        """The step's name for these arguments: 'Ranking hooks for Acme Pets, last 30 days'."""
        values = {name: field.default for name, field in self.args_model.model_fields.items()}
        values.update({k: v for k, v in args.items() if v is not None})
        values["window"] = window_phrase(values)
        for template in (self.step,) if isinstance(self.step, str) else self.step:
            try:
                fields = [name for _, name, _, _ in Formatter().parse(template) if name is not None]
                if all(values.get(name) is not None for name in fields):  # never "a blueprint of None"
                    return template.format(**values)
            except (KeyError, IndexError, ValueError):
                continue
        return self.name.replace("_", " ").capitalize()

    @property
    def description(self) -> str:
        return inspect.getdoc(self.function) or ""

    @property
    def short_description(self) -> str:
        return self.description.split("\n\n")[0].replace("\n", " ")

    @property
    def menu_description(self) -> str:
        """The first sentence of the description, for the chat's Tools menu (one line fits the window)."""
        first = self.short_description.split(": ")[0].split(". ")[0].rstrip(".")
        return (
            first if len(first) <= MENU_CHARS else first[:MENU_CHARS].rsplit(" ", 1)[0].rstrip(" ,;(") + "…"
        )

    @property
    def result_type(self) -> Any:
        """The model the tool answers with (what the chat, Slack and the CLI draw: its `as_tables`, …)."""
        returned = inspect.get_annotations(inspect.unwrap(self.function), eval_str=True).get("return")
        return get_args(returned)[0] if get_origin(returned) is WithImages else returned

    @property
    def arguments(self) -> list[str]:
        return list(self.args_model.model_fields)

    @property
    def required(self) -> list[str]:
        return [n for n, f in self.args_model.model_fields.items() if f.is_required()]

    def parse(self, arguments: dict[str, Any]) -> BaseModel:
        """The arguments checked against the tool's signature (types, choices, limits), or
        `InvalidArgument` saying the first thing wrong ('days must be between 1 and 730 (got 0).')."""
        try:
            return self.args_model.model_validate(arguments)
        except ValidationError as error:
            raise InvalidArgument(explain(self, error, {k: str(v) for k, v in arguments.items()})) from None

    async def answer(self, deps: Deps, arguments: dict[str, Any]) -> Any:
        """Run the tool as `deps.caller` on these arguments, as every surface does (chat, slash, MCP):
        its result (a model, or `WithImages`); refusals are `UserFacingError`s with the message a
        person reads."""
        values = self.parse(arguments)
        given = {name: getattr(values, name) for name in type(values).model_fields}
        _check_storable(given)  # MCP clients and models send what they like: Postgres keeps no NUL
        # Figures are in dollars until the tool resolves a brand (services.brands sets its currency).
        with money.shown_in(money.Money()):
            deps = await _in_brand_days(deps, given.get("brand"))
            return await self.function(deps, **given)

    async def call(self, deps: Deps, arguments: dict[str, Any]) -> ToolReturn:
        """`answer` as Pydantic-AI's tool return: what the model reads, the full result beside it."""
        from pydantic_ai import ToolReturn

        result = await self.answer(deps, arguments)
        if isinstance(result, WithImages):  # e.g. deep_analysis: the ad's image beside its facts
            shown = for_model(result.result)
            value = [shown, *result.images] if result.images else shown
            return ToolReturn(return_value=value, metadata=result.result)
        # The model reads the summary and the top rows; the person gets the full result.
        return ToolReturn(return_value=for_model(result), metadata=result)

    def agent_tool(self) -> Tool[Deps]:
        """The tool for Pydantic-AI: the schema of the function's signature (limits included) and its
        docstring, with arguments checked by `parse` so the model hears the message a person would."""
        from pydantic_ai import ModelRetry, RunContext, Tool

        from services.llm.model_choice import reads_images

        async def run(ctx: RunContext[Deps], **arguments: Any) -> ToolReturn:
            deps = dataclasses.replace(
                ctx.deps, tool_call_id=ctx.tool_call_id, reads_images=reads_images(ctx.model)
            )
            try:
                return await self.call(deps, arguments)
            except DatabaseUnavailable:
                raise  # not the model's to fix: the turn ends with this message (agent.runner)
            except UserFacingError as error:
                raise ModelRetry(error.message) from error

        definition = _definition(self.name, self.function)
        made = Tool[Deps].from_schema(
            run, self.name, definition.description, definition.parameters_json_schema, takes_ctx=True
        )
        made.max_retries = 2
        return made


REGISTRY: dict[str, ToolSpec] = {}


@dataclass(frozen=True)
class WithImages(Generic[R]):
    """A tool's result plus images for the model to look at (in the tool result itself); a tool adds
    them only for a model that reads images (`services.llm.model_choice.reads_images`)."""

    result: R
    images: tuple[BinaryContent, ...] = ()


def _arguments(function: ToolFunction) -> list[inspect.Parameter]:
    """The tool's arguments (all but `deps`), their annotations evaluated."""
    hints = inspect.get_annotations(function, eval_str=True)
    params = list(inspect.signature(function).parameters.values())[1:]
    return [p.replace(annotation=hints[p.name]) for p in params]


async def _in_brand_days(deps: Deps, brand: object) -> Deps:
    """Deps whose today is the named brand's (its accounts' timezone), said when it is not the
    person's; unchanged without a clock or a brand found (the tool then says what is wrong)."""
    if deps.now is None or not isinstance(brand, str):
        return deps
    try:
        async with deps.db.as_user(deps.caller) as conn:
            found = await resolve_brand(conn, name=brand)
    except UserFacingError:
        return deps
    zone = found.timezone or PERSON_TIMEZONE
    shown = zone if zone != PERSON_TIMEZONE else None
    return dataclasses.replace(deps, today=local_today(deps.now, zone), timezone=shown)


def _args_model(name: str, function: ToolFunction) -> type[BaseModel]:
    """A strict pydantic model of the tool's arguments (all but the deps)."""
    fields: dict[str, Any] = {
        p.name: (p.annotation, ... if p.default is inspect.Parameter.empty else p.default)
        for p in _arguments(function)
    }
    model: type[BaseModel] = create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    return model


def _definition(name: str, function: ToolFunction) -> ToolDefinition:
    """Pydantic-AI's definition of the tool (its description, and a schema with each argument's
    docstring line and limits), read from a stand-in with the signature it expects: the run context first."""
    from pydantic_ai import RunContext, Tool

    async def stand_in(ctx: RunContext[Deps], **arguments: Any) -> Any:
        raise AssertionError("only read for its signature")

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=RunContext[Deps])
    rest = _arguments(function)
    stand_in.__signature__ = inspect.Signature([context, *rest])  # type: ignore[attr-defined]
    stand_in.__annotations__ = {"ctx": RunContext[Deps], **{p.name: p.annotation for p in rest}}
    stand_in.__doc__ = function.__doc__
    return Tool(stand_in, name=name, takes_ctx=True).tool_def


def window_phrase(args: dict[str, Any]) -> str:
    if args.get("since"):
        return f"{args['since']} to {args.get('until') or 'today'}"
    return f"last {args.get('days') or 30} days"


def _check_storable(arguments: dict[str, Any]) -> None:
    for name, value in arguments.items():
        for text in value if isinstance(value, list | tuple) else [value]:
            if isinstance(text, str) and (why := unstorable(text)) is not None:
                raise InvalidArgument(
                    f"{name} contains {why}, which can't be stored; remove it and try again."
                )


def tool(
    *,
    example: str,
    step: str | tuple[str, ...],
    aliases: dict[str, str] | None = None,
    help: str = "",
) -> Callable[[F], F]:
    """Register a tool: an async function of `deps: Deps` and its typed arguments (limits as
    `Annotated[int, Field(ge=…, le=…)]`), documented Google style. It is returned unchanged."""

    def decorate(function: F) -> F:
        name = function.__name__
        REGISTRY[name] = ToolSpec(
            name=name,
            function=function,
            example=example,
            args_model=_args_model(name, function),
            step=step,
            aliases=tuple((aliases or {}).items()),
            help=" ".join(help.split()),
        )
        return function

    return decorate


MODEL_ROWS = 10


def for_model(result: BaseModel) -> dict[str, Any]:
    """The result as the model sees it: every field, with long lists cut to the top rows (and said so)."""
    data = result.model_dump(mode="json")
    for key, value in list(data.items()):
        if isinstance(value, list) and len(value) > MODEL_ROWS:
            data[key] = value[:MODEL_ROWS]
            data[f"{key}_note"] = f"showing the top {MODEL_ROWS} of {len(value)}; the person sees them all"
    return data


def result_of(part_content: Any, metadata: Any) -> BaseModel | None:
    """The full result model behind a tool return (None for an error)."""
    if isinstance(metadata, BaseModel):
        return metadata
    return part_content if isinstance(part_content, BaseModel) else None


def agent_tools() -> list[Tool[Deps]]:
    """The registry as Pydantic-AI tools (docstring = what the model reads)."""
    return [spec.agent_tool() for spec in all_specs()]


def get_spec(name: str) -> ToolSpec | None:
    """The tool called `name`, importing only its module when the index knows it (a one-off slash
    command loads one tool module, not all of them)."""
    if (module := TOOL_MODULES.get(name)) is not None:
        importlib.import_module(module)
        if name in REGISTRY:
            return REGISTRY[name]
    _load_all()
    return REGISTRY.get(name)


def all_specs() -> list[ToolSpec]:
    """Every tool, in the index's order whichever modules were imported first (then any others)."""
    _load_all()
    place = {name: i for i, name in enumerate(TOOL_MODULES)}
    return sorted(REGISTRY.values(), key=lambda spec: place.get(spec.name, len(place)))


def _load_all() -> None:
    # Importing the tool modules registers their tools.
    for module in dict.fromkeys(TOOL_MODULES.values()):
        importlib.import_module(module)


# Each tool and the module that registers it, in the order the agent and /help list them: what lets
# `get_spec` import one module. Derived from the registry (tests/test_tools.py keeps it equal to it).
TOOL_MODULES: dict[str, str] = {
    "pause_ads": "tools.ad_actions",
    "resume_ads": "tools.ad_actions",
    "set_budget": "tools.ad_actions",
    "actions": "tools.ad_actions",
    "undo": "tools.ad_actions",
    "ad_writes": "tools.ad_actions",
    "create_ads": "tools.ad_creation",
    "link_generated_ad": "tools.ad_creation",
    "blueprint": "tools.blueprints",
    "brand": "tools.brands",
    "products": "tools.brands",
    "briefing": "tools.briefings",
    "slack_channel": "tools.briefings",
    "classify": "tools.classify",
    "content_gaps": "tools.content_gaps",
    "top_hooks": "tools.creative",
    "hook_analysis": "tools.creative",
    "congruence_check": "tools.creative",
    "congruence_summary": "tools.creative",
    "deep_analysis": "tools.creative",
    "jobs": "tools.jobs",
    "analyze_landing_page": "tools.landing_pages",
    "landing_page_analyses": "tools.landing_pages",
    "promote_lp_to_variant": "tools.landing_pages",
    "discover_variants": "tools.landing_pages",
    "meta_account": "tools.meta",
    "sync_meta": "tools.meta",
    "meta_status": "tools.meta",
    "connect_meta": "tools.meta",
    "notifications": "tools.notifications",
    "discover_patterns": "tools.patterns",
    "brands": "tools.performance",
    "ad_performance": "tools.performance",
    "summary": "tools.performance",
    "compare": "tools.performance",
    "fatigue": "tools.performance",
    "synthesize_persona": "tools.personas",
    "research_reddit": "tools.research",
    "competitor_ads": "tools.research",
    "schedules": "tools.schedules",
    "recommend_templates": "tools.template_recommendations",
    "templates": "tools.templates",
    "review_templates": "tools.templates",
    "template_auto": "tools.templates_auto",
    "usage": "tools.usage",
}
