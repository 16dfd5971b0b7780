"""Job types: what each background job is (a plain service function), its parameters and its retry policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, SecretStr, ValidationError

from core.errors import ExternalServiceError, MetaAuthError, UserFacingError
from db.pool import Database
from jobs.queue import DEFAULT_QUEUE
from services.retrying import Backoff
from settings import Settings

if TYPE_CHECKING:
    from services.meta.api import MetaClient


class PermanentJobError(UserFacingError):
    """The job cannot succeed by trying again (bad payload, missing service, a refusal): it fails now."""


class RetryableJobError(UserFacingError):
    """A failure worth another attempt later (the message says what went wrong this time)."""


@dataclass
class RunContext:
    """What a running job gets: the database (service role), settings, and where it stands."""

    db: Database
    settings: Settings
    run_id: UUID
    job_type: str
    organization_id: UUID | None
    brand_id: UUID | None
    attempt: int
    notes: list[str] = field(default_factory=list)
    """Non-fatal remarks, kept in job_runs.result (e.g. a chained step that isn't available)."""
    meta_client_factory: Callable[[SecretStr], MetaClient] | None = None
    """Tests point Meta calls at a local fake with shrunk waits; production leaves it None."""


JobFunction = Callable[[RunContext, Any], Awaitable[BaseModel]]
SuccessNotice = Callable[[RunContext, Any, BaseModel], "Notice | None"]


@dataclass(frozen=True)
class Notice:
    """A notification to create when a run succeeds (org-wide)."""

    type: str
    category: str
    title: str
    message: str


@dataclass(frozen=True)
class JobType:
    """One kind of background job. `run` is a plain async function: the worker and "run now" call it."""

    name: str
    params: type[BaseModel]
    run: JobFunction
    description: str
    label: str | None = None
    """The stage in a marketer's words ("Ad classification"), for notifications; else the name."""
    platform_only: bool = False
    """Runs once for everyone (no organization or brand): schedules per brand are refused."""
    needs_brand: bool = False
    max_attempts: int = 3
    backoff_base: float = 30.0
    """Seconds before the first retry; doubled each attempt, with jitter, up to `backoff_cap`."""
    backoff_cap: float = 1800.0
    queue: str = DEFAULT_QUEUE
    serialize_per_brand: bool = False
    """Runs of this type for one brand never overlap (procrastinate's `lock`)."""
    lock_group: str | None = None
    """With `serialize_per_brand`: the types sharing a group run one at a time per brand, in the order
    queued (the creative download, then the classification a sync queued after it)."""
    on_success: SuccessNotice | None = None

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): exponential with jitter
        (between half and all of the step, so retries of many jobs spread out)."""
        return Backoff(first=self.backoff_base, cap=self.backoff_cap, low=0.5, high=1.0).seconds(attempt)

    def parse(self, raw: dict[str, Any]) -> BaseModel:
        """The validated parameters, or a `PermanentJobError` naming each bad field."""
        try:
            return self.params.model_validate(raw)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in error.errors()
            )
            raise PermanentJobError(f"Bad parameters for {self.name}: {problems}.") from None


REGISTRY: dict[str, JobType] = {}


def register(job_type: JobType) -> JobType:
    """Add a job type (built-ins at import of `jobs.builtin`; plugins and tests add their own)."""
    REGISTRY[job_type.name] = job_type
    return job_type


def job_type_named(name: str) -> JobType:
    """The registered job type, or a message listing the ones there are."""
    import jobs.builtin  # noqa: F401  (registers the built-in types)

    found = REGISTRY.get(name)
    if found is None:
        known = ", ".join(sorted(REGISTRY))
        raise PermanentJobError(f"There is no job type '{name}'. Job types: {known}.")
    return found


def is_retryable(error: BaseException) -> bool:
    """Refusals and bad input fail at once; outside hiccups and unexpected errors are tried again."""
    if isinstance(error, RetryableJobError):
        return True
    if isinstance(error, MetaAuthError):
        return False  # a refused token stays refused until someone reconnects
    if isinstance(error, ExternalServiceError):
        return True
    return not isinstance(error, UserFacingError)


def describe(error: BaseException) -> str:
    """The error as people read it in /jobs failed (user-facing messages as is)."""
    if isinstance(error, UserFacingError):
        return error.message
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
