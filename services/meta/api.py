"""The Graph API through the official SDK (facebook-business), with Meta's limits respected.

Every call goes through `FacebookAdsApi.call`, so we see each response's usage headers and can page
by `after` cursors ourselves: a failed page is retried from the same cursor, never re-read from the
start. The SDK is synchronous: async code calls a `MetaClient` through `asyncio.to_thread`.

Faults (PITFALLS, Meta Marketing API):
* throttling — codes 4 (app), 17 (user), 613 (account), 80000–80014 (business use case): wait
  (`estimated_time_to_regain_access` when Meta gives it, else a growing backoff) and resume; after
  `breaker_after` throttles in a row on one account the run stops (`MetaThrottled`) and resumes later;
* usage headers (`X-Business-Use-Case-Usage`, `x-app-usage`, `x-ad-account-usage`) above
  `slow_down_at` percent: pause before the next call rather than be blocked;
* 5xx, "transient" errors and dropped connections: exponential backoff with jitter;
* 190: the token is dead (`MetaAuthError`), nothing to retry.

The token never appears in a URL, a message we raise or a log line: it travels in the
`Authorization` header (the SDK would put it in every URL's query string, which urllib3 logs and
`requests` errors quote), error text is scrubbed, and `redact_secrets_in_logs` masks secret query
parameters in the HTTP libraries' log records whatever sends them.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

import msgspec
import requests
from facebook_business.api import FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from core.errors import ExternalServiceError, MetaAuthError, MetaThrottled, MetaTooMuchData
from services.retrying import Backoff

API_VERSION = "v26.0"
SECRET_PARAMS = re.compile(
    r"((?<![A-Za-z_])(?:access_token|client_secret|fb_exchange_token|code|appsecret_proof|input_token)=)[^&\s\"']+"
)


class RedactSecrets(logging.Filter):
    """Masks secret query parameters (tokens, the app secret, OAuth codes) in a log record's text."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = SECRET_PARAMS.sub(r"\1***", text)
        if masked != text:
            record.msg, record.args = masked, None
        return True


def redact_secrets_in_logs() -> None:
    """Attach the filter to the loggers of the HTTP stack the SDK uses (idempotent)."""
    for name in ("urllib3.connectionpool", "urllib3", "requests", "facebook_business"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


redact_secrets_in_logs()


def _parse_body_once() -> None:
    """The SDK's `FacebookResponse.json()` parses the body with `json.loads` on every call, and
    `FacebookAdsApi.call` calls it to check for an error before we read it: a 500-row insights page
    (~400 kB) was parsed twice. Parse it once, with msgspec (the same values, about twice as fast),
    and keep the result on the response. A body that is not JSON stays text, as the SDK returns it."""
    original = FacebookResponse.json
    if getattr(original, "parses_once", False):
        return

    def json_once(self: FacebookResponse) -> Any:
        if "_parsed" not in self.__dict__:
            body = self.body()
            try:
                parsed = msgspec.json.decode(body) if isinstance(body, str | bytes) else original(self)
            except msgspec.DecodeError:
                parsed = body
            self.__dict__["_parsed"] = parsed
        return self.__dict__["_parsed"]

    json_once.parses_once = True  # type: ignore[attr-defined]
    FacebookResponse.json = json_once

    original_success = FacebookResponse.is_success

    def is_success(self: FacebookResponse) -> bool:
        # A 200 whose body opens a page of results is one (Graph reports errors as {"error": …} with
        # a 4xx/5xx status): no need to parse a 400 kB page just to look for an "error" key.
        body = self.body()
        if self.status() == 200 and isinstance(body, str) and body.startswith('{"data":'):
            return True
        return bool(original_success(self))

    FacebookResponse.is_success = is_success


_parse_body_once()
R = TypeVar("R")
THROTTLE_CODES = frozenset({4, 17, 613, *range(80000, 80015)})
PAGE_SIZE = 500  # Meta budgets calls per ad account: big pages, fewer calls


class Cursors(msgspec.Struct, gc=False):
    after: str | None = None


class _Paging(msgspec.Struct, gc=False):
    cursors: Cursors | None = None
    next: str | None = None


class _Page(msgspec.Struct, Generic[R], gc=False):
    data: list[R] = []
    paging: _Paging | None = None


@dataclass(frozen=True)
class Paging:
    after: str | None
    next: str | None

    @classmethod
    def of(cls, paging: Any) -> Paging:
        if isinstance(paging, _Paging):
            return cls(paging.cursors.after if paging.cursors else None, paging.next)
        if not isinstance(paging, dict):
            return cls(None, None)
        cursors = paging.get("cursors")
        return cls(cursors.get("after") if isinstance(cursors, dict) else None, paging.get("next"))


class RowReader(Generic[R]):
    """Reads a page's rows as `row_type` (a msgspec Struct) straight from the body: no dict per row,
    nothing for the garbage collector to track. A page whose shape is not the expected one is read
    as plain JSON and each row handed to `lenient` instead (so one odd field never fails a sync)."""

    def __init__(self, row_type: type[R], lenient: Callable[[Any], R]) -> None:
        self._decoder = msgspec.json.Decoder(_Page[row_type])  # type: ignore[valid-type]
        self._lenient = lenient

    def read(self, body: Any) -> tuple[list[R], Paging]:
        try:
            page = self._decoder.decode(body)
        except msgspec.ValidationError:
            plain = msgspec.json.decode(body)
            if not isinstance(plain, dict):
                return [], Paging(None, None)
            data = plain.get("data")
            return [self._lenient(row) for row in data if isinstance(row, dict)] if isinstance(
                data, list
            ) else [], Paging.of(plain.get("paging"))
        return page.data, Paging.of(page.paging)


class _TryAgain(Exception):
    """A call worth repeating: `why` is what progress shows while waiting, `message` the error when
    the tries run out (`unreachable`: Meta was never reached); a throttle brings its own wait."""

    def __init__(
        self, why: str, message: str, *, throttle_wait: float | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(why)
        self.why = why
        self.message = message
        self.throttle_wait = throttle_wait
        self.unreachable = unreachable


def _again(state: RetryCallState) -> _TryAgain:
    error = state.outcome.exception() if state.outcome is not None else None
    assert isinstance(error, _TryAgain)  # tenacity retries only these
    return error


class MetaRefused(Exception):
    """Meta answered a call with an error: its code, subcode, message and message for people."""

    def __init__(self, *, code: int, subcode: int, message: str, user_message: str) -> None:
        super().__init__(message)
        self.code, self.subcode, self.message, self.user_message = code, subcode, message, user_message


class MetaUnanswered(Exception):
    """No answer from Meta (a timeout, a dropped connection): the call may or may not have landed."""


@dataclass(frozen=True)
class RangeDone:
    """Between pages: every row from the first day asked for through `last` has been yielded."""

    first: date
    last: date


@dataclass
class Limits:
    """How patient to be. Tests shrink the waits; production keeps these."""

    max_attempts: int = 6  # per call, for 5xx / dropped connections
    backoff_base: float = 1.0  # seconds, doubled each attempt, with full jitter
    backoff_cap: float = 60.0
    throttle_wait: float = 60.0  # when Meta gives no estimate
    max_throttle_wait: float = 3600.0
    breaker_after: int = 5  # throttles in a row on one account
    slow_down_at: float = 75.0  # usage percent
    timeout: float = 120.0  # one HTTP call
    async_after_days: int = 31  # longer insight ranges go through async report runs
    report_days: int = 31  # days per report run: a sync that stops resumes after its last whole run
    report_poll: float = 2.0  # seconds between polls of a report run (growing by half each time)
    report_poll_cap: float = 30.0
    report_max_wait: float = 600.0  # then the range is split in two


@dataclass
class Usage:
    """The latest usage Meta reported (percent of the budget; the highest of its figures)."""

    percent: float = 0.0
    regain_minutes: float = 0.0


@dataclass
class MetaClient:
    token: SecretStr | None = field(repr=False)  # None: app-level calls (the OAuth code exchange)
    graph_url: str
    limits: Limits = field(default_factory=Limits)
    sleep: Callable[[float], None] = time.sleep
    on_wait: Callable[[str, float], None] | None = None  # (why, seconds): progress shows it
    page_size: int = PAGE_SIZE
    calls: int = 0
    throttles: int = 0

    def __post_init__(self) -> None:
        session = FacebookSession(timeout=self.limits.timeout)
        session.GRAPH = self.graph_url.rstrip("/")
        # The SDK sends the token as a query parameter, so it is in every URL (urllib3 logs URLs,
        # error messages quote them). Graph accepts it as a header instead: send it there.
        session.requests.params.pop("access_token", None)
        if self.token is not None:
            session.requests.headers["Authorization"] = f"OAuth {self.token.get_secret_value()}"
        self._api = FacebookAdsApi(session, api_version=API_VERSION)
        self.usage = Usage()

    # -- calls ------------------------------------------------------------------------------

    def get(self, path: tuple[str, ...], params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call("GET", path, params)

    def call(
        self, method: str, path: tuple[str, ...], params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One Graph call with Meta's limits respected; the JSON body."""
        body = self._send(method, path, params).json()
        return body if isinstance(body, dict) else {"data": body}

    def send_once(self, method: str, path: tuple[str, ...], params: dict[str, Any]) -> dict[str, Any]:
        """One call, never repeated (a write): Meta's refusal as `MetaRefused`, no answer (timeout,
        dropped connection) as `MetaUnanswered`, so the caller can read the object before any retry."""
        self.calls += 1
        try:
            response: FacebookResponse = self._api.call(method, path, params=dict(params))
        except FacebookRequestError as error:
            self._read_usage(error.http_headers() or {})
            body = error.body()
            found = body.get("error") if isinstance(body, dict) else None
            detail: dict[str, Any] = found if isinstance(found, dict) else {}
            raise MetaRefused(
                code=int(error.api_error_code() or 0),
                subcode=int(error.api_error_subcode() or 0),
                message=self.scrub(str(error.api_error_message() or "an error")),
                user_message=self.scrub(str(detail.get("error_user_msg") or "")),
            ) from None
        except requests.exceptions.RequestException as error:
            raise MetaUnanswered(self.scrub(str(error))) from None
        self._read_usage(response.headers() or {})
        answer = response.json()
        return answer if isinstance(answer, dict) else {"data": answer}

    def _send(
        self, method: str, path: tuple[str, ...], params: dict[str, Any] | None = None
    ) -> FacebookResponse:
        """One Graph call with Meta's limits respected: waits, retries, the breaker; the response."""
        throttled_in_a_row = 0

        def once() -> FacebookResponse:
            nonlocal throttled_in_a_row
            self._pace()
            self.calls += 1
            try:
                response: FacebookResponse = self._api.call(method, path, params=dict(params or {}))
            except FacebookRequestError as error:
                self._read_usage(error.http_headers() or {})
                code = error.api_error_code()
                if code == 190:
                    raise MetaAuthError(
                        "Meta no longer accepts this brand's token (expired or revoked)."
                        " Reconnect it with /connect_meta."
                    ) from None
                if code in THROTTLE_CODES:
                    throttled_in_a_row += 1
                    self.throttles += 1
                    if throttled_in_a_row >= self.limits.breaker_after:
                        raise MetaThrottled(
                            f"Meta kept throttling {path[0]} ({throttled_in_a_row} times in a row, code {code})."
                            " Nothing was lost: the next sync resumes from here."
                        ) from None
                    wait = self._throttle_wait(throttled_in_a_row)
                    raise _TryAgain("Meta asked us to slow down", "", throttle_wait=wait) from None
                if code == 100 and error.api_error_subcode() == 1487534:
                    raise MetaTooMuchData(self._describe(error)) from None
                if bool(error.api_transient_error()) or (error.http_status() or 0) >= 500:
                    raise _TryAgain("Meta had a temporary error", self._describe(error)) from None
                raise ExternalServiceError(self._describe(error)) from None
            except requests.exceptions.RequestException as error:
                reason = self.scrub(str(error))
                raise _TryAgain("the connection to Meta dropped", reason, unreachable=True) from None
            self._read_usage(response.headers() or {})
            return response

        backoff = Backoff(first=self.limits.backoff_base, cap=self.limits.backoff_cap, low=0.0, high=1.0)

        def wait(state: RetryCallState) -> float:
            again = _again(state)
            return backoff(state) if again.throttle_wait is None else again.throttle_wait

        def stop(state: RetryCallState) -> bool:  # throttles are bounded by the breaker instead
            return _again(state).throttle_wait is None and state.attempt_number >= self.limits.max_attempts

        def before_sleep(state: RetryCallState) -> None:
            if self.on_wait is not None and state.upcoming_sleep > 0:
                self.on_wait(_again(state).why, state.upcoming_sleep)

        def give_up(state: RetryCallState) -> FacebookResponse:
            again = _again(state)
            if again.unreachable:
                n = state.attempt_number
                raise ExternalServiceError(f"Meta could not be reached after {n} attempts: {again.message}")
            raise ExternalServiceError(again.message)

        retrying = Retrying(
            retry=retry_if_exception_type(_TryAgain),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            sleep=lambda seconds: self.sleep(seconds) if seconds > 0 else None,
            retry_error_callback=give_up,
        )
        return retrying(once)

    def pages(
        self, path: tuple[str, ...], params: dict[str, Any], rows: RowReader | None = None
    ) -> Iterator[list[Any]]:
        """Every page of an edge, following `after` cursors (a failed page is retried from its cursor).
        Rows are dicts, or what `rows` reads them as (typed, straight from the body's bytes)."""
        params = {"limit": self.page_size, **params}
        while True:
            if rows is None:
                body = self.get(path, params)
                data, paging = list(body.get("data") or []), Paging.of(body.get("paging"))
            else:
                data, paging = rows.read(self._send("GET", path, params).body())
            yield data
            if not paging.next or not paging.after:
                return
            params = {**params, "after": paging.after}

    def report_pages(
        self, account: str, since: date, until: date, params: dict[str, Any], rows: RowReader | None = None
    ) -> Iterator[list[Any] | RangeDone]:
        """Insights for [since, until] through async report runs (`is_async`: POST, poll
        `async_status`, then page the report). A run that fails or outlasts `report_max_wait` is
        split in two halves, down to single days. The range is read `report_days` at a time, in
        order; after each run's pages comes a `RangeDone`: every day up to its `last` is in."""
        ranges, first = [], since
        while first <= until:
            last = min(until, first + timedelta(days=self.limits.report_days - 1))
            ranges.append((first, last))
            first = last + timedelta(days=1)
        while ranges:
            first, last = ranges.pop(0)
            body = {**params, "time_range": {"since": first.isoformat(), "until": last.isoformat()}}
            run_id = str(self.call("POST", (account, "insights"), body).get("report_run_id") or "")
            status = self._wait_for_report(run_id) if run_id else "no report run id"
            if status != "Job Completed":
                if first == last:
                    raise ExternalServiceError(
                        f"Meta could not build the report for {first:%b %-d} ({status})."
                    )
                middle = first + timedelta(days=(last - first).days // 2)
                ranges[0:0] = [(first, middle), (middle + timedelta(days=1), last)]
                continue
            yield from self.pages((run_id, "insights"), {}, rows)
            yield RangeDone(first, last)

    def _wait_for_report(self, run_id: str) -> str:
        """Poll until done. Meta's percent can read 100 while the job still runs: only the status counts."""
        waited, pause = 0.0, self.limits.report_poll
        while True:
            status = str(
                self.get((run_id,), {"fields": "async_status,async_percent_completion"}).get("async_status")
            )
            if status in ("Job Completed", "Job Failed", "Job Skipped"):
                return status
            if waited >= self.limits.report_max_wait:
                return f"still '{status}' after {waited:.0f} s"
            self._wait("Meta is preparing the report", pause)
            waited += pause
            pause = min(pause * 1.5, self.limits.report_poll_cap)

    # -- limits -----------------------------------------------------------------------------

    def _read_usage(self, headers: Any) -> None:
        percent, regain = 0.0, 0.0
        for name in ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage"):
            raw = headers.get(name) if hasattr(headers, "get") else None
            if not raw:
                continue
            try:
                data = json.loads(raw)
            except (TypeError, ValueError):
                continue
            entries: list[dict[str, Any]] = []
            if name == "x-business-use-case-usage" and isinstance(data, dict):
                for value in data.values():
                    if isinstance(value, list):
                        entries.extend(v for v in value if isinstance(v, dict))
            elif isinstance(data, dict):
                entries.append(data)
            for entry in entries:
                for key in ("call_count", "total_cputime", "total_time", "acc_id_util_pct"):
                    value = entry.get(key)
                    if isinstance(value, int | float):
                        percent = max(percent, float(value))
                regain = max(regain, float(entry.get("estimated_time_to_regain_access") or 0))
        self.usage = Usage(percent=percent, regain_minutes=regain)

    def _pace(self) -> None:
        """Slow down before Meta blocks: the closer to the budget, the longer the pause."""
        over = self.usage.percent - self.limits.slow_down_at
        if over > 0:
            share = min(1.0, over / (100.0 - self.limits.slow_down_at))
            self._wait("close to Meta's call budget", self.limits.throttle_wait * share)

    def _throttle_wait(self, in_a_row: int) -> float:
        if self.usage.regain_minutes > 0:
            return min(self.usage.regain_minutes * 60.0, self.limits.max_throttle_wait)
        return min(self.limits.throttle_wait * 2 ** (in_a_row - 1), self.limits.max_throttle_wait)

    def _wait(self, why: str, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.on_wait is not None:
            self.on_wait(why, seconds)
        self.sleep(seconds)

    def _describe(self, error: FacebookRequestError) -> str:
        message = error.api_error_message() or "an error"
        code, subcode = error.api_error_code(), error.api_error_subcode()
        detail = f"code {code}" + (f", subcode {subcode}" if subcode else "")
        return f"Meta refused the request: {self.scrub(str(message))} ({detail})."

    def scrub(self, text: str) -> str:
        secret = self.token.get_secret_value() if self.token is not None else ""
        text = text.replace(secret, "***") if secret else text
        return SECRET_PARAMS.sub(r"\1***", text)
