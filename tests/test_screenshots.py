"""`make screenshots` kept from rotting: one command photographed at both sizes on a throwaway demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from evals.screenshots import SIZES, commands


def test_every_command_with_an_example_is_photographed() -> None:
    names = [name for name, _ in commands(None)]
    assert {"brands", "top_hooks", "summary", "compare", "fatigue", "create_ads"} <= set(names)
    assert len(names) >= 30 and names == sorted(names)


def test_make_screenshots_writes_a_png_per_size_for_a_person_to_review(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    done = subprocess.run(
        [sys.executable, "-m", "evals.screenshots", "--only", "brands", "--out", str(out)],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 screenshots in" in done.stdout and "0 without an answer" in done.stdout, done.stdout
    for size, (width, height) in SIZES.items():
        with Image.open(out / f"brands-{size}.png") as picture:
            assert picture.width == width and picture.height >= height
