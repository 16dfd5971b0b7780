"""One registry of tools feeding the agent, slash commands, the CLI `ask` and (later) MCP."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, create_model
from pydantic_ai import BinaryContent, ModelRetry, RunContext, Tool, ToolReturn

from services.errors import DatabaseUnavailable, UserFacingError
from services.storable import unstorable
from tools.deps import Deps

ToolFunction = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=ToolFunction)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class ToolSpec:
    """A tool as every surface sees it: name, description, arguments, an example, a step title."""

    name: str
    function: ToolFunction
    example: str
    args_model: type[BaseModel]
    step: str
    """What the step is called while it runs, e.g. 'Ranking hooks for {brand}, {window}'."""
    aliases: tuple[tuple[str, str], ...] = ()
    """Other names a slash command may use for an argument, e.g. ("from", "source") (a Python keyword)."""

    def step_title(self, args: dict[str, Any]) -> str:
        """The step's name for these arguments: 'Ranking hooks for Acme Pets, last 30 days'."""
        values = {name: field.default for name, field in self.args_model.model_fields.items()}
        values.update({k: v for k, v in args.items() if v is not None})
        values["window"] = window_phrase(values)
        try:
            return self.step.format(**values)
        except (KeyError, IndexError, ValueError):
            return self.name.replace("_", " ").capitalize()

    @property
    def description(self) -> str:
        return inspect.getdoc(self.function) or ""

    @property
    def short_description(self) -> str:
        return self.description.split("\n\n")[0].replace("\n", " ")

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


REGISTRY: dict[str, ToolSpec] = {}


@dataclass(frozen=True)
class WithImages(Generic[R]):
    """A tool's result plus images for the model to look at (in the tool result itself); a tool adds
    them only for a model that reads images (`services.model_choice.reads_images`)."""

    result: R
    images: tuple[BinaryContent, ...] = ()


def _args_model(name: str, function: ToolFunction) -> type[BaseModel]:
    """A strict pydantic model of the tool's arguments (all but the run context)."""
    fields: dict[str, Any] = {}
    hints = inspect.get_annotations(function, eval_str=True)
    for pname, param in list(inspect.signature(function).parameters.items())[1:]:
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (hints[pname], default)
    model: type[BaseModel] = create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    return model


def window_phrase(args: dict[str, Any]) -> str:
    if args.get("since"):
        return f"{args['since']} to {args.get('until') or 'today'}"
    return f"last {args.get('days') or 30} days"


def _check_storable(arguments: dict[str, Any]) -> None:
    for name, value in arguments.items():
        for text in value if isinstance(value, list | tuple) else [value]:
            if isinstance(text, str) and (why := unstorable(text)) is not None:
                raise ModelRetry(f"{name} contains {why}, which can't be stored; remove it and try again.")


def tool(*, example: str, step: str, aliases: dict[str, str] | None = None) -> Callable[[F], F]:
    """Register a tool. Errors a person (or the model) can fix become `ModelRetry` with their message."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        async def wrapper(ctx: RunContext[Deps], *args: Any, **kwargs: Any) -> ToolReturn:
            _check_storable(kwargs)  # MCP clients and models send what they like: Postgres keeps no NUL
            try:
                result = await function(ctx, *args, **kwargs)
            except DatabaseUnavailable:
                raise  # not the model's to fix: the turn ends with this message (agent.runner)
            except UserFacingError as error:
                raise ModelRetry(error.message) from error
            if isinstance(result, WithImages):  # e.g. deep_analysis: the ad's image beside its facts
                shown = for_model(result.result)
                value = [shown, *result.images] if result.images else shown
                return ToolReturn(return_value=value, metadata=result.result)
            # The model reads the summary and the top rows; the person gets the full result.
            return ToolReturn(return_value=for_model(result), metadata=result)

        name = function.__name__
        REGISTRY[name] = ToolSpec(
            name=name,
            function=wrapper,
            example=example,
            args_model=_args_model(name, function),
            step=step,
            aliases=tuple((aliases or {}).items()),
        )
        return wrapper  # type: ignore[return-value]

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
    _load_all()
    return [Tool(spec.function, name=spec.name, takes_ctx=True, max_retries=2) for spec in REGISTRY.values()]


def get_spec(name: str) -> ToolSpec | None:
    _load_all()
    return REGISTRY.get(name)


def all_specs() -> list[ToolSpec]:
    _load_all()
    return list(REGISTRY.values())


def _load_all() -> None:
    # Importing the tool modules registers their tools.
    from tools import (  # noqa: F401
        ad_creation,
        blueprints,
        briefings,
        content_gaps,
        creative,
        jobs,
        landing_pages,
        meta,
        notifications,
        patterns,
        performance,
        personas,
        research,
        template_recommendations,
        templates,
        templates_auto,
    )
