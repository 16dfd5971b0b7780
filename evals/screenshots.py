"""`make screenshots`: every chat command on the demo, one PNG each, for a person to look at.

A throwaway VIRALTRACKER_HOME with its own embedded Postgres and the demo seeded, `viraltracker chat`
offline on a free port, Debian's chromium signed in as maya (Acme Pets, Bloom Botanicals). Each
command's `example=` is sent in a new chat and the page is photographed once the answer has settled,
at 1440×900 and 390×844 (full page), into `screenshots/` (or --out). The summary lists each file and
whether the page scrolled sideways (it never should).

    make screenshots            # every command
    .venv/bin/python -m evals.screenshots --only top_hooks brands --out /tmp/shots
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
WHO = ("maya@northwind.example", "northwind-demo")
ANSWER = '[data-step-type="assistant_message"] .message-content'
ANSWER_SECONDS = 60.0  # offline pattern discovery embeds its texts on the CPU first
SETTLE_MS = 1500  # tables and charts render after the text
MAX_HEIGHT = 6000
_CONTENT_HEIGHT = """
Math.max(window.innerHeight, ...[...document.querySelectorAll('*')]
  .filter(e => /(auto|scroll)/.test(getComputedStyle(e).overflowY) && e.scrollHeight > e.clientHeight)
  .map(e => window.innerHeight + e.scrollHeight - e.clientHeight))
"""


@dataclass
class Shot:
    command: str
    size: str
    path: Path
    sideways: bool
    answered: bool


def commands(only: list[str] | None) -> list[tuple[str, str]]:
    """(tool name, its example) for every registered tool, or those named."""
    from tools.registry import all_specs

    found = sorted((spec.name, spec.example) for spec in all_specs() if spec.example)
    return [(name, example) for name, example in found if not only or name in only]


async def shoot(url: str, wanted: list[tuple[str, str]], out: Path) -> list[Shot]:
    from playwright.async_api import async_playwright

    shots: list[Shot] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            for size, (width, height) in SIZES.items():
                context = await browser.new_context(base_url=url, viewport={"width": width, "height": height})
                page = await context.new_page()
                await page.goto("/login")
                await page.locator("#email").fill(WHO[0])
                await page.locator("#password").fill(WHO[1])
                await page.get_by_role("button", name="Sign In").click()
                await page.locator("#chat-input").wait_for(timeout=30_000)
                await page.close()
                for name, example in wanted:
                    page = await context.new_page()  # a fresh page and chat per command
                    try:
                        shots.append(await _one(page, name, example, size, (width, height), out))
                    except Exception as error:  # one command's trouble is reported, the others still run
                        print(
                            f"  {name}-{size}: NOT PHOTOGRAPHED ({type(error).__name__}: {error})", flush=True
                        )
                        shots.append(Shot(name, size, out / f"{name}-{size}.png", False, False))
                    finally:
                        await page.close()
                await context.close()
        finally:
            await browser.close()
    return shots


async def _one(page: Any, name: str, example: str, size: str, viewport: tuple[int, int], out: Path) -> Shot:
    width, height = viewport
    await page.goto("/")
    composer = page.locator("#chat-input")
    await composer.wait_for(timeout=30_000)
    await composer.fill(example)
    await page.locator("#chat-submit").click(timeout=30_000)
    answered = await _answered(page)
    await page.wait_for_timeout(SETTLE_MS)
    path = out / f"{name}-{size}.png"
    sideways = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    # The chat scrolls inside its own pane: grow the window to the answer's height (at most
    # MAX_HEIGHT) so one picture holds all of it.
    tall = await page.evaluate(_CONTENT_HEIGHT)
    await page.set_viewport_size({"width": width, "height": min(max(height, tall), MAX_HEIGHT)})
    await page.wait_for_timeout(300)
    await page.screenshot(path=str(path))
    print(f"  {path.name}: {'answered' if answered else 'NO ANSWER'}"
          f"{', scrolls sideways' if sideways else ''}", flush=True)  # fmt: skip
    return Shot(name, size, path, bool(sideways), answered)


async def _answered(page: object) -> bool:
    """Whether an answer arrived within ANSWER_SECONDS (bounded; the page is photographed either way)."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    deadline = time.monotonic() + ANSWER_SECONDS
    while time.monotonic() < deadline:
        # The run has ended (no stop button): a slow command's step alone is not its answer.
        if await page.locator(ANSWER).count() and not await page.locator("#stop-button").count():
            return True
        await page.wait_for_timeout(200)
    return False


def main(argv: list[str] | None = None) -> None:
    from bench.chat_load import app_env, free_port, run_cli, start_server, stop_embedded_postgres, stop_server

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="folder for the PNGs")
    parser.add_argument("--only", nargs="*", help="only these commands (tool names)")
    args = parser.parse_args(argv)
    wanted = commands(args.only)
    if not wanted:
        parser.error(f"no command named {', '.join(args.only or [])}")
    if shutil.which("chromium") is None:
        raise SystemExit("Debian's chromium is needed: make chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="vt-shots-"))
    env = app_env(home)
    env.pop("DATABASE_URL", None)  # always a throwaway embedded server with the demo
    server = None
    try:
        run_cli(["db", "up"], env, home / "setup.log")
        run_cli(["demo", "seed"], env, home / "setup.log")
        port = free_port()
        server = start_server(env, port, home / "chat.log")
        url = f"http://127.0.0.1:{port}"
        print(f"{len(wanted)} commands × {len(SIZES)} sizes into {args.out}/", flush=True)
        shots = asyncio.run(shoot(url, wanted, args.out))
    finally:
        if server is not None:
            stop_server(server)
        stop_embedded_postgres(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)
    unanswered = [s for s in shots if not s.answered]
    sideways = [s for s in shots if s.sideways]
    print(
        f"{len(shots)} screenshots in {args.out}/: {len(unanswered)} without an answer,"
        f" {len(sideways)} scrolling sideways ({', '.join(s.path.name for s in sideways) or 'none'})."
    )
    print("Look at each one before calling the chat done.")


if __name__ == "__main__":
    main()
