"""The current manifest, split by split, as the runner indexes it.

Captions are ordered by ``caption_id`` within a split (the manifest's order), so shard
``i`` -- captions ``[i * shard_captions, (i + 1) * shard_captions)`` -- names the same captions
on every run over the same manifest; that is what makes resumption exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

import stores

_VIDEOS_SQL = "SELECT split, video_id, path FROM videos ORDER BY split, video_id"
_CAPTIONS_SQL = "SELECT split, caption_id, video_id, text FROM captions ORDER BY split, caption_id"


@dataclass
class SplitData:
    name: str
    video_ids: list[str]
    paths: list[Path]
    caption_ids: list[str]
    texts: list[str]
    caption_video: np.ndarray  # (captions,) index into video_ids

    def __post_init__(self):
        self.video_array = pa.array(self.video_ids, pa.string())
        self.caption_array = pa.array(self.caption_ids, pa.string())
        per_video: list[list[tuple[int, str]]] = [[] for _ in self.video_ids]
        for i, (v, text) in enumerate(zip(self.caption_video, self.texts)):
            per_video[v].append((i, text))
        self.video_captions = per_video

    def shards(self, shard_captions: int) -> list[range]:
        n = len(self.caption_ids)
        return [range(lo, min(lo + shard_captions, n)) for lo in range(0, n, shard_captions)]


def load_splits(store_root: Path) -> dict[str, SplitData]:
    """Every split of the store's current manifest (video paths are absolute in manifests)."""
    con = stores.connect(store_root)
    try:
        videos = con.execute(_VIDEOS_SQL).fetchall()
        captions = con.execute(_CAPTIONS_SQL).fetchall()
    finally:
        con.close()
    out: dict[str, SplitData] = {}
    for split in sorted({s for s, _, _ in videos}):
        vids = [(v, p) for s, v, p in videos if s == split]
        row = {v: i for i, (v, _) in enumerate(vids)}
        caps = [(c, v, t) for s, c, v, t in captions if s == split]
        strays = [c for c, v, _ in caps if v not in row]
        if strays:
            raise ValueError(f"split {split}: captions of videos from another split, e.g. {strays[:3]}")
        out[split] = SplitData(
            name=split,
            video_ids=[v for v, _ in vids],
            paths=[_resolve(p, store_root) for _, p in vids],
            caption_ids=[c for c, _, _ in caps],
            texts=[t for _, _, t in caps],
            caption_video=np.array([row[v] for _, v, _ in caps], dtype=np.int64),
        )
    return out


def _resolve(path: str, store_root: Path) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    beside = Path(store_root) / p
    return beside if beside.exists() else p
