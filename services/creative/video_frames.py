"""What a model can see of a stored video without watching it: its length and its keyframes (PyAV).

Keyframes are the frames at 0, 1, 2 and 3 seconds (the hook) and the first frame of each scene change
(a frame whose 32×18 grey thumbnail differs from the previous one by more than `SCENE_CHANGE` on
average), at most `MAX_FRAMES`, as small JPEGs. Blocking: callers run these in a worker thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

HOOK_SECONDS = (0.0, 1.0, 2.0, 3.0)
SCENE_CHANGE = 30.0
"""Mean absolute grey-level difference (0-255) between consecutive frames that counts as a new scene."""
MAX_FRAMES = 12
FRAME_WIDTH = 512
"""Frames are scaled down to this width at most (a model reads a hook at this size; tokens stay low)."""
MAX_DECODE_SECONDS = 600.0
"""Only the first ten minutes are scanned for scene changes (ads are shorter)."""


class UnreadableVideo(Exception):
    """The stored file is not a video PyAV can decode; the message says why."""


@dataclass(frozen=True)
class Frame:
    t: float
    """Seconds from the start."""
    jpeg: bytes
    scene_change: bool


def duration_seconds(path: Path) -> float:
    """The video's length in seconds, from its container (or its video stream)."""
    try:
        with av.open(str(path)) as container:
            if container.duration:
                return container.duration / av.time_base
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, IndexError) as error:
        raise UnreadableVideo(f"not a readable video ({error})") from None
    raise UnreadableVideo("the video does not say how long it is")


def _jpeg(frame: av.VideoFrame) -> bytes:
    width = min(FRAME_WIDTH, frame.width)
    height = max(2, round(frame.height * width / frame.width))
    image = frame.to_image(width=width, height=height)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _grey(frame: av.VideoFrame) -> bytes:
    small = frame.reformat(width=32, height=18, format="gray")
    plane = small.planes[0]
    rows = bytes(plane)
    return b"".join(rows[y * plane.line_size : y * plane.line_size + 32] for y in range(18))


def keyframes(
    path: Path, *, at: tuple[float, ...] = HOOK_SECONDS, scenes: bool = True, max_frames: int = MAX_FRAMES
) -> list[Frame]:
    """The first frames at or after the `at` seconds (those within the video) and, with `scenes`, at
    each scene change, in time order."""
    wanted = sorted(at)
    found: dict[float, Frame] = {}
    previous: bytes | None = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                if frame.time is None or frame.time > MAX_DECODE_SECONDS:
                    break
                t = round(float(frame.time), 2)
                grey = _grey(frame)
                changed = (
                    scenes
                    and previous is not None
                    and (
                        sum(abs(a - b) for a, b in zip(grey, previous, strict=True)) / len(grey)
                        > SCENE_CHANGE
                    )
                )
                previous = grey
                due = bool(wanted) and t + 1e-6 >= wanted[0]
                while wanted and t + 1e-6 >= wanted[0]:
                    wanted.pop(0)
                if (due or changed) and len(found) < max_frames:
                    found[t] = Frame(t=t, jpeg=_jpeg(frame), scene_change=changed)
    except (av.error.FFmpegError, IndexError) as error:
        raise UnreadableVideo(f"not a readable video ({error})") from None
    return [found[t] for t in sorted(found)]


def frames_at(path: Path, times: list[float]) -> dict[float, bytes]:
    """For each of `times`, the JPEG of the first frame at or after it (times past the end are left out)."""
    frames = keyframes(path, at=tuple(times), scenes=False, max_frames=len(times))
    found = {}
    for t in times:
        frame = next((f for f in frames if f.t + 1e-6 >= t), None)
        if frame is not None:
            found[t] = frame.jpeg
    return found
