"""Small real MP4s made with PyAV for tests and benches: solid-colour scenes that change at set times.

    make_video(path, scenes=((0.0, (200, 30, 30)), (1.5, (30, 200, 30))), seconds=4.0)

The colours are far apart, so each change is a scene change a frame differ sees; a silent AAC track
is added with `audio=True`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 10
SIZE = (64, 36)
DEFAULT_SCENES: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (220, 40, 40)),
    (1.5, (40, 200, 60)),
    (3.2, (40, 60, 220)),
)


def make_video(
    path: Path,
    *,
    seconds: float = 4.0,
    scenes: tuple[tuple[float, tuple[int, int, int]], ...] = DEFAULT_SCENES,
    audio: bool = False,
    padding_bytes: int = 0,
) -> Path:
    """Writes an H.264 MP4 of `seconds` at 10 fps, 64×36, each scene a solid colour from its start time.
    `padding_bytes` of noise in the first frames make a larger file (for size thresholds)."""
    width, height = SIZE
    rng = np.random.default_rng(7)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "0" if padding_bytes else "30"}
        sound = container.add_stream("aac", rate=8000) if audio else None
        frames = round(seconds * FPS)
        for i in range(frames):
            t = i / FPS
            colour = [c for start, c in scenes if start <= t + 1e-9][-1]
            pixels = np.empty((height, width, 3), dtype=np.uint8)
            pixels[:] = colour
            if padding_bytes and i * width * height * 3 < padding_bytes:
                pixels = rng.integers(0, 256, size=pixels.shape, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = round(seconds * 8000)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.zeros((1, min(1024, samples - start)), dtype=np.float32), format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 8000, start
                for packet in sound.encode(chunk):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path
