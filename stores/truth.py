"""The truth file of wrong captions: a format both the audit and the student read.

A truth file is JSON, ``{"captions": {caption_id: {"wrong": bool, "noise": kind}}}`` (the demo's
``data/demo/ground_truth.json``, or the record ``teachkit data corrupt`` writes), or plain text
with one caption id a line. Captions it does not list count as correct.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_truth(path: str | Path) -> dict[str, str | None]:
    """``{caption_id: noise kind}`` of the wrong captions in a truth file (or a file of ids, one a line)."""
    try:
        text = Path(path).read_text()
        if not text.lstrip().startswith("{"):
            return {line.strip(): "listed" for line in text.splitlines() if line.strip()}
        caps = json.loads(text)["captions"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"cannot read truth file {path}: {e}") from None
    return {cid: (c.get("noise") or "wrong") for cid, c in caps.items() if c.get("wrong")}
