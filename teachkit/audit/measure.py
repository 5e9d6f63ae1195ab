"""How well the current audit finds the wrong captions of a known truth.

The truth is a JSON file with ``{"captions": {caption_id: {"wrong": bool, "noise": kind}}}``: the
demo's ``data/demo/ground_truth.json`` or the record ``teachkit data corrupt`` writes. Captions
the truth does not list count as correct. Figures: precision, recall and F1 of the flagged set,
the AUC of the score (the probability that a wrong caption scores above a correct one, ties
half: Mann-Whitney U / (n_wrong n_correct)), the recall and the AUC per noise kind (that kind's
wrong captions against every correct one), and the best F1 over every cut of the score (what
the threshold costs: the flagged set's F1 against it).
"""

from __future__ import annotations

import numpy as np

from stores.truth import read_truth  # noqa: F401  (the CLI reads truth files through here)

AUDIT_SQL = "SELECT caption_id, score, flagged FROM caption_audit ORDER BY caption_id"


def auc(scores: np.ndarray, wrong: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the positives ``wrong`` (average ranks for ties)."""
    pos, neg = int(wrong.sum()), int((~wrong).sum())
    if not pos or not neg:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    r = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # average ranks, 1-based
    return float((r[wrong].sum() - pos * (pos + 1) / 2) / (pos * neg))


def detection(ids: list[str], scores: np.ndarray, flagged: np.ndarray, truth: dict[str, str | None]) -> dict:
    """The figures of the module docstring for one audit."""
    wrong = np.array([c in truth for c in ids])
    tp = int((flagged & wrong).sum())
    precision = tp / max(1, int(flagged.sum()))
    recall = tp / max(1, int(wrong.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    kinds: dict[str, dict] = {}
    for i, c in enumerate(ids):
        if c in truth:
            k = kinds.setdefault(str(truth[c]), {"wrong": 0, "found": 0})
            k["wrong"] += 1
            k["found"] += int(flagged[i])
    kind_of = np.array([str(truth[c]) if c in truth else "" for c in ids])
    for name, k in kinds.items():
        k["recall"] = k["found"] / k["wrong"]
        k["auc"] = auc(scores[(kind_of == name) | ~wrong], (kind_of == name)[(kind_of == name) | ~wrong])
    return {
        "captions": len(ids), "wrong": int(wrong.sum()), "flagged": int(flagged.sum()),
        "rate": float(flagged.mean()), "precision": precision, "recall": recall, "f1": f1,
        "auc": auc(scores, wrong), "per_kind": dict(sorted(kinds.items())), **best_cut(scores, wrong),
    }


def best_cut(scores: np.ndarray, wrong: np.ndarray) -> dict:
    """``{"best_f1", "best_flagged"}``: the highest F1 of flagging the k highest scores, over
    every k (tied scores taken together), and that k."""
    if not wrong.any():
        return {"best_f1": 0.0, "best_flagged": 0}
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(wrong[order])
    ends = np.r_[np.flatnonzero(np.diff(scores[order]) != 0), len(scores) - 1]  # last row of each tie group
    k = ends + 1
    f1 = 2 * tp[ends] / (k + int(wrong.sum()))
    i = int(np.argmax(f1))
    return {"best_f1": float(f1[i]), "best_flagged": int(k[i])}


def measure_audit(con, truth: dict[str, str | None]) -> dict:
    """:func:`detection` of the store's current audit (the ``caption_audit`` view)."""
    t = con.execute(AUDIT_SQL).fetchnumpy()
    if len(t["caption_id"]) == 0:
        raise ValueError("the store has no caption audit; run `teachkit captions audit` first")
    return detection(t["caption_id"].tolist(), t["score"].astype(np.float64), t["flagged"].astype(bool), truth)


def format_detection(m: dict) -> str:
    lines = [
        f"captions {m['captions']}, wrong {m['wrong']}, flagged {m['flagged']} (rate {m['rate']:.3f})",
        f"precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}  AUC {m['auc']:.3f}",
        "recall per kind: " + ", ".join(f"{k} {v['recall']:.2f} ({v['found']}/{v['wrong']})"
                                        for k, v in m["per_kind"].items()),
        "AUC per kind: " + ", ".join(f"{k} {v['auc']:.3f}" for k, v in m["per_kind"].items()),
        f"best F1 over every cut of the score: {m['best_f1']:.3f} (flagging {m['best_flagged']})",
    ]
    return "\n".join(lines)
