"""Video decoding and frame sampling (PyAV), shared by the teacher and student stages.

It lives in ``stores`` because both stages read the videos a manifest lists, and the
student must not import ``pipeline``. Sampling follows CLIP4Clip (``slice_framepos=2``):
optionally resample the clip at a fixed fps, then take ``num_frames`` indices spread
uniformly with ``np.linspace(0, n - 1, num_frames)``; shorter clips keep every frame and are
padded, with a mask that marks the real frames.

Decoding goes packet by packet and skips a packet the decoder rejects: one corrupt packet
otherwise ends ``container.decode`` and drops the whole video (a 250-frame clip with 20 KB
of random bytes mid-file still gives 222 frames this way). A video that lost frames carries
a :attr:`SampledFrames.warning`; one that keeps less than :data:`MIN_RECOVERED` of the
frames its container promises is a :class:`MediaError`. Messages name the file once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError


class MediaError(InputError, RuntimeError):
    """A video that cannot be opened or decoded."""


#: the least share of a video's frames that must decode past corrupt packets
MIN_RECOVERED = 0.5


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    frames: int


@dataclass(frozen=True)
class SampledFrames:
    frames: np.ndarray  # (num_frames, H, W, 3) uint8, zeros where padded
    mask: np.ndarray  # (num_frames,) bool, True for real frames
    indices: np.ndarray  # (num_frames,) source frame index, -1 where padded
    warning: str | None = None  # frames lost to corrupt packets, when any were


def _reason(e: BaseException) -> str:
    """FFmpeg's reason without the file name PyAV appends (the caller names the file once)."""
    return getattr(e, "strerror", None) or str(e)


def check_file(path: str | Path) -> None:
    """A :class:`MediaError` unless ``path`` is a regular file."""
    p = Path(path)
    if p.is_dir():
        raise MediaError(f"{path} is a directory, not a video file")
    if not p.is_file():
        raise MediaError(f"video file not found: {path}")


def _open(path: str | Path):
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise MediaError(f"cannot open video {path}: {_reason(e)}") from e


def _packets(container, stream):
    """Decoded frames of ``stream``, skipping packets the decoder rejects; a list [skipped] counts them."""
    import av

    skipped = [0]

    def frames():
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.FFmpegError:
                skipped[0] += 1

    return frames(), skipped


def probe(path: str | Path) -> VideoInfo:
    """Duration, fps and frame count of a video, counting frames by decoding when needed."""
    import av

    check_file(path)
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {path}")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        n = int(stream.frames or 0)
        if n <= 0:
            try:
                frames, _ = _packets(container, stream)
                n = sum(1 for _ in frames)
            except av.FFmpegError as e:
                raise MediaError(f"cannot decode {path}: {_reason(e)}") from e
        if n <= 0:
            raise MediaError(f"no decodable frames in {path}")
        duration = n / fps if fps > 0 else float(stream.duration * stream.time_base if stream.duration else 0)
        return VideoInfo(duration=float(duration), fps=fps, frames=n)


def sample_indices(n_frames: int, num_frames: int, video_fps: float = 0.0, fps: float | None = None) -> np.ndarray:
    """Indices of the frames to keep (CLIP4Clip uniform sampling, ``slice_framepos=2``)."""
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    candidates = np.arange(n_frames)
    if fps is not None and fps > 0 and video_fps > 0 and fps < video_fps:
        step = video_fps / fps
        candidates = np.unique(np.floor(np.arange(0, n_frames, step)).astype(np.int64))
    if len(candidates) <= num_frames:
        return candidates
    pick = np.linspace(0, len(candidates) - 1, num=num_frames, dtype=np.int64)
    return candidates[pick]


def decode_frames(path: str | Path, num_frames: int, fps: float | None = None) -> SampledFrames:
    """Decode the sampled frames of one video as RGB uint8, padded to ``num_frames``.

    Only the sampled frames are converted to RGB and kept: holding every frame of a 30 s
    clip would cost hundreds of MB per video (per DataLoader worker). The frame count comes
    from the container; when it is missing or wrong, the clip is decoded a second time with
    the count the first pass found, so the indices are always those of
    :func:`sample_indices` over the frames that really decode (past corrupt packets, see
    the module docstring).
    """
    check_file(path)
    n, video_fps = _stream_info(path)
    idx = sample_indices(n, num_frames, video_fps, fps) if n > 0 else np.zeros(0, dtype=np.int64)
    kept, total, skipped = _decode_selected(path, idx)
    if total != n:
        if total <= 0:
            raise MediaError(f"no decodable frames in {path}" + (f" ({skipped} corrupt packets)" if skipped else ""))
        idx = sample_indices(total, num_frames, video_fps, fps)
        kept, total, skipped = _decode_selected(path, idx)
    if any(int(i) not in kept for i in idx):
        raise MediaError(f"frames of {path} changed between two decodes")
    warning = None
    if skipped:
        expected = max(n, total + skipped)  # a container without a count: one frame per lost packet
        if total < MIN_RECOVERED * expected:
            raise MediaError(f"{path}: only {total} of {expected} frames decode ({skipped} corrupt packets skipped)")
        warning = f"{path}: recovered {total} of {expected} frames ({skipped} corrupt packets skipped)"
    h, w, _ = next(iter(kept.values())).shape
    frames = np.zeros((num_frames, h, w, 3), dtype=np.uint8)
    mask = np.zeros(num_frames, dtype=bool)
    indices = np.full(num_frames, -1, dtype=np.int64)
    for slot, i in enumerate(idx):
        frames[slot] = kept[int(i)]
        mask[slot] = True
        indices[slot] = i
    return SampledFrames(frames, mask, indices, warning)


def _stream_info(path: str | Path) -> tuple[int, float]:
    """(frame count the container claims or 0, average fps or 0) of the first video stream."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {path}")
        stream = container.streams.video[0]
        return int(stream.frames or 0), float(stream.average_rate or 0.0)


def _decode_selected(path: str | Path, wanted: np.ndarray) -> tuple[dict[int, np.ndarray], int, int]:
    """Decode every frame, keep the RGB arrays of ``wanted`` indices; also count the frames
    that decoded and the packets skipped as corrupt."""
    import av

    want = {int(i) for i in wanted}
    kept: dict[int, np.ndarray] = {}
    total = 0
    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames, skipped = _packets(container, stream)
            for total, frame in enumerate(frames, start=1):
                if total - 1 in want:
                    kept[total - 1] = frame.to_ndarray(format="rgb24")
    except av.FFmpegError as e:  # demuxing itself failed: no way past it
        raise MediaError(f"cannot decode {path}: {_reason(e)}") from e
    return kept, total, skipped[0]
