"""A chat server told to stop (SIGTERM: a deploy, systemd, a scale-in) cuts nobody off mid-answer.

Its running turns (`running_turns`: web chat's and Slack's) get `chat_stop_grace_seconds` to finish, with
the sockets still open, before the web server stops; a turn still running then is cancelled: its
half-streamed answer is removed, its open tool steps say they stopped, its history is not saved, and the
person reads `INTERRUPTED`. A message arriving meanwhile is not run (`NOT_RUN`). A second SIGTERM stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import chainlit as cl

log = logging.getLogger(__name__)

NOT_RUN = "This chat server is restarting, so your message was not run. Send it again in a moment."
INTERRUPTED = (
    "The chat server restarted before this answer was finished, so nothing from it was kept."
    " Send your message again in a moment."
)
STEP_STOPPED = "Stopped: the chat server restarted."
CANCELLED_WITHIN_SECONDS = 5.0
"""How long a cancelled turn has to take its partial answer back and say so."""


class RunningTurns:
    """The turns this process is answering now, and whether it is stopping."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False

    def __len__(self) -> int:
        return len(self._tasks)

    @contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as a running turn until the block ends."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def drain(self, *, grace: float) -> int:
        """Stop taking turns, wait up to `grace` seconds for the running ones, cancel the rest (and wait for
        them to hand back); returns how many were cancelled."""
        self.stopping = True
        running = set(self._tasks)
        if not running:
            return 0
        log.info("stopping: waiting up to %g s for %d running chat turn(s)", grace, len(running))
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.warning("stopping: %d chat turn(s) still running after %g s were cancelled", len(late), grace)
            await asyncio.wait(late, timeout=CANCELLED_WITHIN_SECONDS)
        return len(late)


running_turns = RunningTurns()
"""The turns this process is answering, web (app.py) and Slack (agent/slack.py); web.py drains it."""


async def hand_back(answer: cl.Message | None, steps: list[cl.Step]) -> None:
    """A turn cancelled by the stop: its partial answer removed, its unfinished steps closed, the person told."""
    if answer is not None:
        await answer.remove()
    for step in steps:
        if not step.output:
            step.output = STEP_STOPPED
            step.is_error = True
            await step.update()
    await cl.Message(content=INTERRUPTED).send()


def drain_on_sigterm(turns: RunningTurns, *, grace: float) -> Callable[[], None]:
    """From now on SIGTERM first drains `turns`, then goes to the handler it had before (uvicorn's: stop
    serving). Returns the undo. Only in the main thread (where signals are handled); elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)
    draining: list[asyncio.Task[int]] = []

    def hand_on(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
        else:
            signal.raise_signal(signum)

    def start_draining(signum: int) -> None:
        task = loop.create_task(turns.drain(grace=grace), name="drain chat turns")
        task.add_done_callback(lambda _: hand_on(signum, None))
        draining.append(task)  # kept until done: the loop holds tasks weakly

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if turns.stopping:  # a second SIGTERM: no more waiting
            hand_on(signum, frame)
            return
        turns.stopping = True
        loop.call_soon_threadsafe(start_draining, signum)

    signal.signal(signal.SIGTERM, on_sigterm)

    def undo() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return undo
