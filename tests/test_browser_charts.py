"""The chat's charts in a real browser (Debian chromium), in the dark and the light theme, at a desktop
and a phone size: the page shows through the chart (no white canvas on the dark theme), every label
reads against the page and fits inside the chart, and hover text is in the answer's formats. Each run
leaves a screenshot per chart for a person to look at (paths printed; run with -s).

Reuses tests/test_browser.py's app process and browser; every expectation comes from the same result
computed with `agent.runner.run_turn` against the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from agent.runner import run_turn
from db.pool import Caller, Database
from services.analytics.congruence import CongruenceSummaryResult
from services.analytics.hooks import HookAnalysisResult, TopHooksResult
from services.metrics import format_metric, format_number
from tests.test_browser import ANSWER, MAYA, WAIT_MS, app_url, browser, chat_ready, sign_in

__all__ = ["app_url", "browser"]  # the fixtures, shared with tests/test_browser.py

TOP_HOOKS = '/top_hooks brand:"Acme Pets" days:30 metric:hook_rate'
HOOK_ANALYSIS = '/hook_analysis brand:"Acme Pets" days:90'
CONGRUENCE = '/congruence_summary brand:"Acme Pets"'
READABLE = 3.5  # contrast of every chart label against the page (plotly's default #444 on dark: 1.9)

# The chart's colours as drawn: the backgrounds of its SVG layers, the page behind it, and each label
# with its box (hover labels left out: they carry their own background).
_DRAWN = """chart => {
  const rgba = c => { const m = c.match(/[\\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; };
  // SVG paints with a colour and a separate opacity (plotly draws rgb plus fill-opacity).
  const fill = e => { const s = getComputedStyle(e), c = rgba(s.fill); return [...c.slice(0, 3), c[3] * Number(s.fillOpacity)]; };
  let page = chart.parentElement;
  while (page && rgba(getComputedStyle(page).backgroundColor)[3] === 0) page = page.parentElement;
  const box = chart.getBoundingClientRect();
  return {
    page: rgba(getComputedStyle(page || document.body).backgroundColor),
    layers: [...chart.querySelectorAll('svg.main-svg')].map(s => rgba(getComputedStyle(s).backgroundColor))
      .concat([...chart.querySelectorAll('rect.bg')].map(fill)),
    chart: [box.left, box.right],
    window: window.innerWidth,
    labels: [...chart.querySelectorAll('svg.main-svg text')]
      .filter(t => t.textContent.trim() && !t.closest('.hoverlayer'))
      .map(t => { const b = t.getBoundingClientRect();
                  return {text: t.textContent, fill: fill(t), left: b.left, right: b.right}; }),
  };
}"""


def _luminance(rgb: list[float]) -> float:
    def channel(v: float) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    """WCAG's contrast ratio of two opaque colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture(
    params=[("dark", 1440, 900), ("dark", 390, 844), ("light", 1440, 900), ("light", 390, 844)],
    ids=["dark-1440x900", "dark-390x844", "light-1440x900", "light-390x844"],
)
async def themed(
    request: pytest.FixtureRequest, browser: Browser, app_url: str
) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile with Chainlit's theme chosen (as its toggle keeps it) at a window size."""
    theme, width, height = request.param
    fresh = await browser.new_context(base_url=app_url, viewport={"width": width, "height": height})
    fresh.set_default_timeout(WAIT_MS)
    await fresh.add_init_script(f"localStorage.setItem('vite-ui-theme', '{theme}')")
    try:
        yield fresh
    finally:
        await fresh.close()


async def expected(db: Database, maya: Caller, message: str) -> tuple[str, Any]:
    """The answer's first line and its result, as the app computes them."""
    turn = await run_turn(db=db, caller=maya, message=message)
    [call] = turn.tool_calls
    return turn.text.splitlines()[0], call.result


async def chart_of(page: Page, message: str, first_line: str) -> Locator:
    """Send a command and wait for its answer's chart to be drawn."""
    composer = page.locator("#chat-input")
    await composer.click()
    await composer.fill(message)
    await composer.press("Escape")  # close the command menu: the message is sent as typed
    await composer.press("Enter")
    chart = page.locator(ANSWER).filter(has_text=first_line).locator(".js-plotly-plot")
    await expect(chart.locator("g.xtick").first).to_be_attached()
    await chart.scroll_into_view_if_needed()
    return chart


async def hover_text(page: Page, chart: Locator, point: str) -> str:
    """What the hover label says over a point (a bar or marker) of the chart."""
    await chart.locator(point).first.hover(force=True)
    label = chart.locator(".hoverlayer .hovertext")
    await expect(label).to_have_count(1)
    lines = (
        "e => [...e.querySelectorAll('text')].map(t => [...t.childNodes].map(n => n.textContent).join(' '))"
    )
    return " ".join(await label.evaluate(lines))


async def test_charts_follow_the_theme_fit_and_hover_in_the_answers_formats(
    themed: BrowserContext, db: Database, maya: Caller, tmp_path: Path
) -> None:
    hooks_line, hooks_raw = await expected(db, maya, TOP_HOOKS)
    hooks = TopHooksResult.model_validate(hooks_raw)
    categories_line, categories_raw = await expected(db, maya, HOOK_ANALYSIS)
    categories = HookAnalysisResult.model_validate(categories_raw)
    congruence_line, congruence_raw = await expected(db, maya, CONGRUENCE)
    congruence = CongruenceSummaryResult.model_validate(congruence_raw)
    assert len(hooks.rows) >= 3 and max(len(r.hook_text) for r in hooks.rows) > 40  # long hooks on the axis
    assert categories.rows and congruence.classified_ads

    page = await sign_in(themed, *MAYA)
    await chat_ready(page)
    theme = "dark" if "dark" in (await page.locator("html").get_attribute("class") or "") else "light"
    size = f"{page.viewport_size['width']}x{page.viewport_size['height']}" if page.viewport_size else ""
    best_hook = hooks.rows[0]
    best_category = max(categories.rows, key=lambda r: r.hook_rate or 0)
    first_dimension = congruence.dimensions[0]
    cases = [
        ("top_hooks", TOP_HOOKS, hooks_line, "g.point path",
         [best_hook.hook_text, f"hook_rate {format_metric('hook_rate', best_hook.hook_rate)}"]),
        ("hook_analysis", HOOK_ANALYSIS, categories_line, "g.point path",
         [best_category.category, f"hook rate {format_number('percent', best_category.hook_rate)}"]),
        ("congruence_summary", CONGRUENCE, congruence_line, "g.point path",
         [first_dimension.dimension, f"aligned: {first_dimension.aligned:,} ads"]),
    ]  # fmt: skip
    for name, message, first_line, point, hover in cases:
        chart = await chart_of(page, message, first_line)
        shot = tmp_path / f"{name}-{theme}-{size}.png"
        await chart.screenshot(path=shot)
        print(f"screenshot: {shot}")
        drawn = await chart.evaluate(_DRAWN)
        # The page shows through: every layer of the chart is clear, so dark stays dark.
        assert [layer for layer in drawn["layers"] if layer[3] != 0] == [], (name, theme, drawn["layers"])
        page_colour = drawn["page"]
        assert (contrast(page_colour, [255, 255, 255]) > 10) == (theme == "dark"), (theme, page_colour)
        # Every label reads against the page and fits inside the chart and the window.
        left, right = drawn["chart"]
        for label in drawn["labels"]:
            assert contrast(label["fill"], page_colour) >= READABLE, (name, theme, label)
            assert left - 1 <= label["left"] and label["right"] <= min(right, drawn["window"]) + 1, (
                name,
                size,
                label,
                drawn["chart"],
            )
        # Hover text in the formats the answer's table and text use.
        said = await hover_text(page, chart, point)
        for part in hover:
            assert part in said, (name, said, part)
