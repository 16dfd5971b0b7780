"""Provider overhead benchmark: what the app adds to the time to the first token a person sees.

The fake Anthropic Messages API runs in its own process (as a provider is elsewhere: its request
parsing does not share our interpreter) with a 300 ms time-to-first-token (`--ttft`). In a fresh
embedded database, `--turns` (100) chat turns go through `run_turn` with the chat UI's own listener
(`agent.chat_ui.ChainlitListener`, in a Chainlit session whose emitter records when the answer's
first token goes to the browser), on the model `services.llm.model_choice.chat_model` builds (the real
`anthropic` client through Pydantic-AI, our retrying transport). Each turn is paired with a floor: a
bare `anthropic` client call sending the very request the app sent (same tools, instructions,
message), timed to its first text delta.

Per turn: the app's TTFT (turn start → first token shown), the fake's own TTFT for that request
(request received → first delta written, measured at the fake), the floor's TTFT. Added latency =
app − fake's own (everything that is not the model, client and HTTP included) and app − floor (what
our code and Pydantic-AI add over a bare client). Prints p50/p95 and the ratio to the floor; the
target is ≤ 50 ms p95 added latency (app − fake's own). `make bench-provider`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TARGET_P95_MS = 50.0
QUESTION = "how is acme doing?"
ANSWER = (
    "Acme Pets is steady this week: spend is flat, the question hooks about senior dogs keep the best"
    " hook rate, and the offer ads are scaling without congruence problems."
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _answer(request: Any) -> Any:
    from fakes.anthropic_api import Reply

    return Reply.say(ANSWER)


def serve_fake(ttft: float, conn: Connection) -> None:
    """The fake in this (child) process: sends its URL, then on each "report" the (request index →
    received, first delta written) times and the bodies asked for, until "stop"."""
    from fakes.anthropic_api import FakeAnthropic

    with FakeAnthropic(_answer, ttft=ttft) as fake:
        conn.send(fake.url)
        while (asked := conn.recv()) != "stop":
            index = int(asked)
            answered = next(a for a in fake.answered if a.index == index)
            conn.send((answered.started, fake.first_tokens[index], fake.requests[index].body))


async def _caller(db: Any) -> Any:
    from db.pool import Caller
    from services.platform.accounts import add_user, create_organization

    async with db.as_owner() as conn:
        org = await create_organization(conn, name="Bench Provider Org")
        email = "bench.provider@example.com"
        user_id = await add_user(conn, email=email, organization_id=org, role="admin")
        await conn.execute("insert into brands (organization_id, name) values (%s, 'Acme Pets')", (org,))
    return Caller(user_id=user_id, email=email)


async def _floor_ttft(client: Any, body: dict[str, Any]) -> float:
    """A bare client call with the app's own request: request → first text delta."""
    started = time.monotonic()
    first = None
    async for event in await client.beta.messages.create(**body):
        if first is None and event.type == "content_block_delta":
            first = time.monotonic() - started
    if first is None:
        raise AssertionError("the fake streamed no text")
    return first


async def measure(args: argparse.Namespace, home: Path, fake: Connection, fake_url: str) -> bool:
    import anthropic
    import chainlit as cl
    from chainlit.context import ChainlitContext, context_var
    from chainlit.session import WebsocketSession

    from agent.chat_ui import ChainlitListener
    from agent.runner import run_turn
    from db.embedded import start_embedded
    from db.migrate import migrate
    from db.pool import Database
    from fakes.anthropic_api import API_KEY
    from services.llm.model_choice import chat_model
    from services.process import calm_garbage_collector
    from settings import Settings

    url = start_embedded(home / "pgdata")
    async with Database(url, max_size=4) as db:
        await migrate(db)
        caller = await _caller(db)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            ANTHROPIC_API_KEY=API_KEY,
            ANTHROPIC_BASE_URL=fake_url,
            VIRALTRACKER_HOME=str(home),
        )
        model = chat_model(settings)
        bare = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=fake_url, max_retries=0)
        calm_garbage_collector()  # as the app does at startup

        shown: list[float] = []

        async def emit(event: str, data: Any) -> None:
            if event == "stream_start":  # the answer's first token goes to the browser
                shown.append(time.monotonic())

        async def emit_call(*args: Any, **kwargs: Any) -> None:
            return None

        user = cl.User(identifier=caller.email, metadata={"user_id": str(caller.user_id)})
        session = WebsocketSession(
            id=str(uuid.uuid4()), socket_id=str(uuid.uuid4()), emit=emit, emit_call=emit_call,
            user_env={}, client_type="webapp", user=user, thread_id=str(uuid.uuid4()),
        )  # fmt: skip
        token = context_var.set(ChainlitContext(session))
        app_ttft: list[float] = []
        fake_ttft: list[float] = []
        floor_ttft: list[float] = []
        index = 0  # the fake's request counter: one request per turn, one per floor call
        try:
            for i in range(args.warmup + args.turns):
                shown.clear()
                listener = ChainlitListener()
                started = time.monotonic()
                turn = await run_turn(db=db, caller=caller, message=QUESTION, model=model, listener=listener)
                await listener.finish(turn)
                if turn.text != ANSWER or not shown:
                    print(f"  FAIL: turn {i} answered {turn.text[:120]!r}")
                    return False
                fake.send(index)
                received, first_delta, body = fake.recv()
                floor = await _floor_ttft(bare, body)
                index += 2
                if i >= args.warmup:
                    app_ttft.append(shown[0] - started)
                    fake_ttft.append(first_delta - received)
                    floor_ttft.append(floor)
        finally:
            context_var.reset(token)
            await bare.close()
    ms = 1000.0

    def line(label: str, values: list[float]) -> str:
        p50, p95 = percentile(values, 0.5) * ms, percentile(values, 0.95) * ms
        return f"  {label:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   max {max(values) * ms:7.1f} ms"

    added = [a - f for a, f in zip(app_ttft, fake_ttft, strict=True)]
    over_floor = [a - f for a, f in zip(app_ttft, floor_ttft, strict=True)]
    print(line("fake's own TTFT (measured at the fake)", fake_ttft))
    print(line("floor: bare anthropic client, same request", floor_ttft))
    print(line("app: turn start → first token shown", app_ttft))
    print(line("added latency: app − fake's own TTFT", added))
    print(line("of which our code + Pydantic-AI: app − floor", over_floor))
    ratio = statistics.median(app_ttft) / statistics.median(floor_ttft)
    print(f"  ratio app / floor (p50): {ratio:.3f}")
    p95 = percentile(added, 0.95) * ms
    verdict = "meets" if p95 <= TARGET_P95_MS else "MISSES"
    print(f"  {verdict} the target: ≤ {TARGET_P95_MS:.0f} ms p95 added latency ({p95:.1f} ms)")
    return p95 <= TARGET_P95_MS


def main() -> None:
    from bench.chat_load import stop_embedded_postgres

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=100, help="measured chat turns")
    parser.add_argument(
        "--warmup", type=int, default=5, help="turns first, not measured (imports, connections)"
    )
    parser.add_argument("--ttft", type=float, default=0.3, help="the fake's time to first token, seconds")
    args = parser.parse_args()
    if not 1 <= args.turns <= 1000 or not 0 <= args.warmup <= 100 or not 0 <= args.ttft <= 10:
        parser.error("1 <= --turns <= 1000; 0 <= --warmup <= 100; 0 <= --ttft <= 10")
    home = Path(tempfile.mkdtemp(prefix=f"vt-provider-bench-{uuid.uuid4().hex[:6]}-"))
    print(
        f"provider overhead bench: {args.turns} turns, fake TTFT {args.ttft * 1000:.0f} ms;"
        f" {os.cpu_count()} CPUs, load average {tuple(round(x, 2) for x in os.getloadavg())}",
        flush=True,
    )
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_fake, args=(args.ttft, theirs), daemon=True
    )
    server.start()
    ok = False
    try:
        if not ours.poll(60):
            raise SystemExit("the fake did not start within 60 s")
        ok = asyncio.run(measure(args, home, ours, ours.recv()))
    finally:
        ours.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
            server.join(timeout=5)
        stop_embedded_postgres(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
