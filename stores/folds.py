"""Caption folds and holdouts: which training captions a teacher never trained on.

A teacher trained on the captions it later judges has learnt to agree with them, wrong ones
included, so its judgement of its own training captions is biased towards "fine". Cross-fitting
removes the bias: fold teachers are each trained without one fold of the training captions and
judge only that fold. A teacher declares what it did not train on with a *holdout*:

- ``"fold:i/n"``: the captions of fold ``i`` of ``n`` (:func:`caption_folds`); a bootstrapped
  teacher with this holdout is trained without them;
- ``"all"``: none of the store's captions (a pretrained teacher, e.g. a text encoder trained on
  other data, or a user's checkpoint trained on another dataset);
- no holdout: unknown, treated as "trained on every training caption".

Folds are assigned per video, so every video keeps captions in every fold (a fold teacher still
learns every video from its other captions): a video's captions, ordered by a hash of their ids,
are dealt round-robin from a video-dependent offset. The assignment depends only on the ids, so the
teacher stage (which trains without a fold) and the audit (which reads the store) agree on it
without sharing any state.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

_FOLD = re.compile(r"^fold:(\d+)/(\d+)$")


class HoldoutError(ValueError):
    """A holdout string that is not ``all`` or ``fold:i/n`` with 0 <= i < n, n >= 2."""


@dataclass(frozen=True)
class Holdout:
    """What a teacher did not train on: every caption (``folds == 0``) or fold ``fold`` of ``folds``."""

    fold: int = 0
    folds: int = 0  # 0: all captions are held out

    @property
    def everything(self) -> bool:
        return self.folds == 0

    def __str__(self) -> str:
        return "all" if self.everything else f"fold:{self.fold}/{self.folds}"


def parse_holdout(text: str, where: str = "holdout") -> Holdout:
    """``"all"`` or ``"fold:i/n"`` -> :class:`Holdout`; errors name ``where``."""
    if text == "all":
        return Holdout()
    m = _FOLD.match(text) if isinstance(text, str) else None
    if m is None:
        raise HoldoutError(f"{where} must be 'all' or 'fold:i/n' (e.g. 'fold:0/2'), got {text!r}")
    fold, folds = int(m.group(1)), int(m.group(2))
    if folds < 2 or not 0 <= fold < folds:
        raise HoldoutError(f"{where}: fold:{fold}/{folds} needs n >= 2 and 0 <= i < n")
    return Holdout(fold, folds)


def _h(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big")


def caption_folds(captions: list[tuple[str, str]], folds: int) -> dict[str, int]:
    """``{caption_id: fold}`` for ``(caption_id, video_id)`` pairs, balanced within each video."""
    if folds < 2:
        raise HoldoutError(f"folds must be >= 2, got {folds}")
    by_video: dict[str, list[str]] = defaultdict(list)
    for cid, vid in captions:
        by_video[vid].append(cid)
    out = {}
    for vid, cids in by_video.items():
        offset = _h("video:" + vid) % folds
        for j, cid in enumerate(sorted(cids, key=lambda c: (_h("caption:" + c), c))):
            out[cid] = (offset + j) % folds
    return out


def declared_holdout(config: str | None) -> str | None:
    """The ``holdout`` a teacher run's canonical config (JSON text) declares, or None."""
    import json

    try:
        value = (json.loads(config or "{}") or {}).get("holdout")
    except (ValueError, AttributeError):
        return None
    return value


def held_out(captions: list[tuple[str, str]], holdout: Holdout | None) -> set[str]:
    """The caption ids of ``captions`` a teacher with ``holdout`` did not train on."""
    if holdout is None:
        return set()
    if holdout.everything:
        return {cid for cid, _ in captions}
    folds = caption_folds(captions, holdout.folds)
    return {cid for cid, f in folds.items() if f == holdout.fold}


__all__ = ["Holdout", "HoldoutError", "caption_folds", "declared_holdout", "held_out", "parse_holdout"]
