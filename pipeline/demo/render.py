"""Drawing a scene: a per-frame timeline of each object, rasterised with numpy, encoded with PyAV.

``make_timeline`` turns a :class:`Scene` plus a seeded generator into concrete frames: the
span of each event (event k happens inside the k-th equal slice of the clip, with jittered
start and length), start positions that keep objects inside the frame and apart, and
per-frame position, size, colour and opacity. ``draw`` rasterises it (signed distances give
one pixel of anti-aliasing) and ``write_mp4`` encodes it with libx264 on one thread and a
fixed set of CPU features, which makes the bytes, not just the decoded frames, repeatable.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .scenes import Scene
from .vocab import COLOURS

BASE_RADIUS = 0.14  # of the frame size
MOVE_DISTANCE = 0.30  # of the frame size
GROW, SHRINK = 1.5, 0.6
MARGIN = 3.0  # pixels kept free at the border (shapes reach about 1.15 radius)
_STEP = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}


@dataclass(frozen=True)
class Timeline:
    """Everything needed to draw one video: per object and frame, and each event's frames."""

    size: int
    shapes: tuple[str, ...]
    x: np.ndarray  # (objects, frames) centre, pixels
    y: np.ndarray
    radius: np.ndarray  # (objects, frames) pixels
    alpha: np.ndarray  # (objects, frames) opacity in [0, 1]
    rgb: np.ndarray  # (objects, frames, 3) float
    background: np.ndarray  # (size, size, 3) float
    spans: tuple[tuple[int, ...], ...]  # per event, the frames that show it

    @property
    def frames(self) -> int:
        return self.x.shape[1]


def _event_spans(n_events: int, frames: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Event k happens in a jittered sub-span of the k-th of ``n_events`` equal slices."""
    bounds = np.linspace(0, frames, n_events + 1).round().astype(int)
    spans = []
    for k in range(n_events):
        lo, hi = bounds[k], bounds[k + 1]
        width = hi - lo
        length = int(rng.integers(max(3, round(0.5 * width)), max(3, round(0.8 * width)) + 1))
        length = min(length, width)
        start = lo + int(rng.integers(0, width - length + 1))
        spans.append(np.arange(start, start + length))
    return spans


def make_timeline(scene: Scene, size: int, frames: int, rng: np.random.Generator) -> Timeline:
    """Concrete per-frame state of every object of ``scene`` (jittered by ``rng``)."""
    n_obj = len(scene.objects)
    spans = _event_spans(len(scene.events), frames, rng)
    t = np.arange(frames)
    dx = np.zeros((n_obj, frames))
    dy = np.zeros((n_obj, frames))
    scale = np.ones((n_obj, frames))
    alpha = np.ones((n_obj, frames))
    rgb = np.array([[COLOURS[o.colour]] * frames for o in scene.objects], dtype=np.float64)
    base = size * BASE_RADIUS * rng.uniform(0.9, 1.1, n_obj)
    for event, span in zip(scene.events, spans):
        i, s, n = event.obj, int(span[0]), len(span)
        # progress: 1/n on the span's first frame (already changing), 1 from its last on
        progress = np.clip((t - s + 1) / n, 0.0, 1.0)
        if event.action == "move":
            sx, sy = _STEP[event.param]
            dist = size * MOVE_DISTANCE * rng.uniform(0.85, 1.15)
            dx[i] += sx * dist * progress
            dy[i] += sy * dist * progress
        elif event.action in ("grow", "shrink"):
            factor = GROW if event.action == "grow" else SHRINK
            scale[i] *= 1.0 + (factor - 1.0) * progress
        elif event.action in ("appear", "disappear"):
            # a cut in the middle of the span, not a fade: a half-transparent object would
            # show a colour between its own and the background's
            cut = s + n // 2
            alpha[i] = np.where(t < cut, 0.0, 1.0) if event.action == "appear" else np.where(t < cut, alpha[i], 0.0)
        elif event.action == "blink":
            # two frames on, two off: survives sampling every other frame
            on = ((t - s) // 2 % 2 == 0).astype(float)
            alpha[i] = np.where((t >= s) & (t <= span[-1]), on, alpha[i])
        elif event.action == "recolour":
            switch = s + n // 2
            rgb[i, t >= switch] = COLOURS[event.param]
    radius = base[:, None] * scale
    x0, y0 = _place(dx, dy, radius, alpha, size, rng)
    background = _background(size, rng)
    return Timeline(
        size=size,
        shapes=tuple(o.shape for o in scene.objects),
        x=x0[:, None] + dx,
        y=y0[:, None] + dy,
        radius=radius,
        alpha=alpha,
        rgb=rgb,
        background=background,
        spans=tuple(tuple(int(f) for f in s) for s in spans),
    )


def _place(dx, dy, radius, alpha, size, rng, tries: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Start positions keeping every object inside the frame and, where possible, apart."""
    lo_x = (MARGIN + radius - dx).max(axis=1)
    hi_x = (size - MARGIN - radius - dx).min(axis=1)
    lo_y = (MARGIN + radius - dy).max(axis=1)
    hi_y = (size - MARGIN - radius - dy).min(axis=1)
    # a range that is empty (very small frames) collapses to its midpoint
    hi_x, hi_y = np.maximum(hi_x, lo_x), np.maximum(hi_y, lo_y)
    best, best_gap = None, -np.inf
    for _ in range(tries):
        x0 = rng.uniform(lo_x, hi_x)
        y0 = rng.uniform(lo_y, hi_y)
        if len(x0) == 1:
            return x0, y0
        xs, ys = x0[:, None] + dx, y0[:, None] + dy
        both = (alpha[0] > 0) & (alpha[1] > 0)
        gap = np.hypot(xs[0] - xs[1], ys[0] - ys[1]) - radius[0] - radius[1]
        gap = gap[both].min() if both.any() else np.inf
        if gap > best_gap:
            best, best_gap = (x0, y0), gap
        if gap >= 2.0:
            break
    return best


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """Dark plain colour with a faint vertical gradient."""
    base = rng.uniform(8, 40, 3)
    ramp = rng.uniform(-10, 10) * np.linspace(-0.5, 0.5, size)
    bg = base[None, None, :] + ramp[:, None, None]
    return np.broadcast_to(bg, (size, size, 3)).clip(0, 255).copy()


def _box(px, py, hx, hy):
    qx, qy = np.abs(px) - hx, np.abs(py) - hy
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _triangle(px, py, r):
    """Signed distance to an upward equilateral triangle of half-side ``r`` (Quilez)."""
    k = np.sqrt(3.0)
    px = np.abs(px) - r
    py = -py + r / k  # image y points down
    fold = px + k * py > 0
    px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * r, 0.0)
    return -np.hypot(px, py) * np.sign(py)


def signed_distance(shape: str, px: np.ndarray, py: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Distance in pixels to the outline of ``shape`` of size ``r``, negative inside."""
    if shape == "circle":
        return np.hypot(px, py) - r
    if shape == "square":
        return _box(px, py, 0.85 * r, 0.85 * r)
    if shape == "diamond":
        return (np.abs(px) + np.abs(py) - 1.15 * r) / np.sqrt(2.0)
    if shape == "cross":
        return np.minimum(_box(px, py, r, 0.33 * r), _box(px, py, 0.33 * r, r))
    if shape == "triangle":
        return _triangle(px, py - 0.3 * r, 1.1 * r)  # shifted so its box is centred
    raise ValueError(f"unknown shape {shape!r}")


def draw(tl: Timeline) -> np.ndarray:
    """Rasterise a timeline to uint8 frames (frames, size, size, 3)."""
    out = np.broadcast_to(tl.background.astype(np.float32), (tl.frames, tl.size, tl.size, 3)).copy()
    # later objects are drawn first, so the first-mentioned object is on top
    for i in reversed(range(len(tl.shapes))):
        # only the box the object sweeps over is touched (shapes reach ~1.15 radius)
        reach = 1.2 * tl.radius[i] + 1.5
        x_lo, x_hi = _span(tl.x[i] - reach, tl.x[i] + reach, tl.size)
        y_lo, y_hi = _span(tl.y[i] - reach, tl.y[i] + reach, tl.size)
        px = (np.arange(x_lo, x_hi) + 0.5)[None, None, :] - tl.x[i][:, None, None]
        py = (np.arange(y_lo, y_hi) + 0.5)[None, :, None] - tl.y[i][:, None, None]
        d = signed_distance(tl.shapes[i], px, py, tl.radius[i][:, None, None])
        cover = (np.clip(0.5 - d, 0.0, 1.0) * tl.alpha[i][:, None, None]).astype(np.float32)
        region = out[:, y_lo:y_hi, x_lo:x_hi]
        region += cover[..., None] * (tl.rgb[i][:, None, None, :].astype(np.float32) - region)
    return (out + 0.5).clip(0, 255).astype(np.uint8)


def _span(lo: np.ndarray, hi: np.ndarray, size: int) -> tuple[int, int]:
    return max(0, int(np.floor(lo.min()))), min(size, int(np.ceil(hi.max())))


def _x264_params() -> str:
    """x264 CPU features for byte-repeatable output on any machine.

    x264's AVX-512 code gave different bitstreams for the same frames from run to run
    (seen on AMD EPYC, even on one thread), and its AVX/SSE4 code is not bit-exact with
    its C code. The SSE2 code is as fast here and matches the C code, which every
    non-x86 machine gets, so every machine writes the same bytes.
    """
    return "asm=SSE2" if platform.machine().lower() in ("x86_64", "amd64") else "asm=0"


def write_mp4(path: str | Path, frames: np.ndarray, fps: int, crf: int) -> None:
    """Encode RGB frames as H.264 (yuv420p) MP4: one thread, fixed CPU features, repeatable bytes."""
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "threads": "1", "x264-params": _x264_params()}
        stream.codec_context.thread_count = 1
        for index, rgb in enumerate(frames):
            # explicit single-threaded conversion and timestamps: nothing left to chance
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", threads=1)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
