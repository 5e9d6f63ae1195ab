"""The training log: every row the trainer logs, fanned out to the sinks ``[train] log`` names.

* ``jsonl`` -- ``train_log.jsonl`` in the run folder, one JSON object per row. The report
  (``teachkit report``) reads it.
* ``tensorboard`` -- event files in ``<run>/tensorboard/`` written through
  ``torch.utils.tensorboard.SummaryWriter`` (``tensorboard --logdir runs/demo``).

A row is ``{"step": s, key: value, ...}``. Keys with a ``/`` are tags already
(``val/t2v/R@1``); the others are training scalars and become ``train/<key>``
(``train/loss``, ``train/retrieval_loss``, ``train/lr``).

A run folder appears only when it is complete (:mod:`student.runs`), but a TensorBoard user
wants to watch a run while it trains, so events go to a hidden temporary folder beside the
run (``teachkit.util.atomic.tmp_sibling`` of ``<run>.tensorboard``, which TensorBoard also finds) and move into the run
folder when it is written. A killed run leaves that folder behind under the
``teachkit.util.atomic`` leftover pattern.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from teachkit.util.atomic import move_into

SINKS = ("jsonl", "tensorboard")
JSONL = "train_log.jsonl"
TENSORBOARD = "tensorboard"


def check_sinks(sinks: list[str], where: str, error: type[Exception] = ValueError) -> None:
    """Refuse unknown or repeated sink names (``error`` names the field)."""
    unknown = [s for s in sinks if s not in SINKS]
    if unknown:
        raise error(f"{where}: unknown sink {unknown[0]!r}; sinks are {list(SINKS)}")
    if len(set(sinks)) != len(sinks):
        raise error(f"{where} lists a sink twice: {sinks}")


def tag(key: str) -> str:
    """The TensorBoard tag of a row key."""
    return key if "/" in key else f"train/{key}"


class TrainLog:
    """Collects rows; streams them to TensorBoard as they come; :meth:`save` writes the rest."""

    def __init__(self, sinks: list[str], live_dir: Path):
        check_sinks(sinks, "train.log")
        self.sinks = list(sinks)
        self.rows: list[dict] = []
        self.live_dir = Path(live_dir)
        self._writer = None
        if "tensorboard" in self.sinks:
            from torch.utils.tensorboard import SummaryWriter

            shutil.rmtree(self.live_dir, ignore_errors=True)
            self._writer = SummaryWriter(log_dir=str(self.live_dir), flush_secs=10)

    def log(self, row: dict) -> None:
        """Record one row (``step`` plus scalars)."""
        self.rows.append(dict(row))
        if self._writer is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._writer.add_scalar(tag(key), float(value), step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def save(self, folder: Path) -> None:
        """Write the configured sinks into the (not yet published) run folder."""
        self.close()
        if "jsonl" in self.sinks:
            (folder / JSONL).write_text("".join(json.dumps(r) + "\n" for r in self.rows))
        if "tensorboard" in self.sinks:
            move_into(self.live_dir, folder / TENSORBOARD)


def read_jsonl(folder: str | Path) -> list[dict]:
    """The rows of a run's ``train_log.jsonl`` (empty when the run logged none)."""
    path = Path(folder) / JSONL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
