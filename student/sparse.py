"""Sparse teacher knowledge: a memory-mapped CSR per top-k teacher run.

A teacher that scored a ``topk`` plan holds about ``k`` scores per caption, so a dense
captions x videos matrix (:class:`student.knowledge.MatrixReader`) would be almost all NaN
and, at WebVid size (10M x 10M), impossible. Such a run is kept as a CSR instead: for
caption row ``i`` (the reader's caption order), ``cols[indptr[i]:indptr[i + 1]]`` are the
video columns it scored, sorted ascending, and ``scores[...]`` their scores in the store's
precision (float16 by default, so exact). Three ``.npy`` files in one folder, cached
beside the dense matrices (keyed by the committed run and the caption/video order) and
memory-mapped by every reader and DataLoader worker.

Building streams the run's scores through DuckDB twice (``rel.to_arrow_reader()``, one
arrow batch at a time): a ``GROUP BY`` counts each caption's scores (the row pointers),
then every score is scattered into its row's slot of the memory-mapped arrays; a last pass
sorts each row's columns, block by block. The resident memory is the row pointers (8 bytes
per caption) plus one arrow batch and one sort block, whatever the number of videos; the
DuckDB side holds the id -> row tables it joins with.

A batch gathers its B x B entries from the B rows' segments (``B * k`` values) with one
``searchsorted`` against the batch's columns: :meth:`SparseScores.gather`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from teachkit.util.atomic import atomic_path

COUNTS_SQL = """
SELECT c.row, count(*) AS n
FROM scores s
JOIN matrix_captions c ON s.caption_id = c.caption_id
JOIN matrix_videos v ON s.video_id = v.video_id
WHERE s.teacher = ? AND s.split = ? AND s.run = ?
GROUP BY c.row
"""

READER_ROWS = 1 << 20  # score rows per arrow batch while building
SORT_BLOCK = 1 << 22  # CSR entries sorted per block in the last pass

FILES = ("indptr.npy", "cols.npy", "scores.npy")


class SparseScores:
    """A teacher's scores as a memory-mapped CSR (rows: captions, columns: videos)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._arrays = None

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = tuple(np.load(self.folder / f, mmap_mode="r") for f in FILES)
        return self._arrays

    def __getstate__(self):
        return {"folder": self.folder, "_arrays": None}

    @property
    def shape_rows(self) -> int:
        return len(self.arrays[0]) - 1

    @property
    def nnz(self) -> int:
        return int(self.arrays[0][-1])

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(sorted video columns, scores) of caption row ``i``."""
        indptr, cols, scores = self.arrays
        a, b = int(indptr[i]), int(indptr[i + 1])
        return np.asarray(cols[a:b]), np.asarray(scores[a:b])

    def top(self, i: int, n: int) -> np.ndarray:
        """The ``n`` columns of row ``i`` with the highest scores, best first."""
        cols, scores = self.row(i)
        order = np.argsort(-scores.astype(np.float32), kind="stable")[:n]
        return cols[order]

    def gather(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(len(rows), len(cols)) float32 scores, NaN where the teacher did not score the pair."""
        indptr, all_cols, all_scores = self.arrays
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.full((len(rows), len(cols)), np.nan, dtype=np.float32)
        starts, stops = indptr[rows], indptr[rows + 1]
        lengths = stops - starts
        total = int(lengths.sum())
        if total == 0 or len(cols) == 0:
            return out
        which = np.repeat(np.arange(len(rows)), lengths)
        # flat positions of every entry of the rows' segments, segment by segment
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        flat = offsets + np.arange(total)
        entry_cols = all_cols[flat]
        order = np.argsort(cols, kind="stable")
        sorted_cols = cols[order]
        at = np.minimum(np.searchsorted(sorted_cols, entry_cols), len(cols) - 1)
        hit = sorted_cols[at] == entry_cols
        out[which[hit], order[at[hit]]] = all_scores[flat[hit]].astype(np.float32)
        return out


def build_sparse(cur, folder: Path, n_rows: int, dtype: str, params: list, scores_sql: str, progress=None) -> SparseScores:
    """Stream one teacher run's scores (``params``: teacher, split, run) into a CSR at ``folder``.

    ``cur`` has ``matrix_captions`` (caption_id, video_id, row) and ``matrix_videos``
    (video_id, col) registered, as for the dense matrix; ``scores_sql`` selects (row, col,
    score) of the run. Written atomically: the folder appears complete or not at all.
    """
    vdtype = np.float16 if dtype == "float16" else np.float32
    counts = np.zeros(n_rows, dtype=np.int64)
    for batch in cur.sql(COUNTS_SQL, params=params).to_arrow_reader(READER_ROWS):
        counts[batch.column(0).to_numpy()] = batch.column(1).to_numpy()
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    del counts
    task = progress.add_task(f"teacher CSR {params[0]}", total=nnz, unit="scores") if progress else None
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        np.save(tmp / "indptr.npy", indptr)
        cols = np.lib.format.open_memmap(tmp / "cols.npy", mode="w+", dtype=np.int32, shape=(nnz,))
        vals = np.lib.format.open_memmap(tmp / "scores.npy", mode="w+", dtype=vdtype, shape=(nnz,))
        fill = indptr[:-1].copy()  # next free slot of each row
        for batch in cur.sql(scores_sql, params=params).to_arrow_reader(READER_ROWS):
            r = batch.column(0).to_numpy().astype(np.int64)
            order = np.argsort(r, kind="stable")
            r = r[order]
            first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            run_len = np.diff(np.r_[first, len(r)])
            rank = np.arange(len(r)) - np.repeat(first, run_len)  # position within this batch's run of the row
            pos = fill[r] + rank
            cols[pos] = batch.column(1).to_numpy()[order]
            vals[pos] = batch.column(2).to_numpy()[order].astype(vdtype)
            fill[r[first]] += run_len
            if task is not None:
                progress.advance(task, len(r))
        if not np.array_equal(fill, indptr[1:]):
            raise RuntimeError(f"teacher {params[0]}: the scores changed while the CSR was built; rebuild")
        del fill
        _sort_rows(indptr, cols, vals)
        cols.flush()
        vals.flush()
        del cols, vals
    return SparseScores(folder)


def _sort_rows(indptr: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
    """Sort each row's columns (and scores with them), a block of whole rows at a time."""
    n = len(indptr) - 1
    lo = 0
    while lo < n:
        # whole rows up to about SORT_BLOCK entries (at least one row)
        hi = int(np.searchsorted(indptr, indptr[lo] + SORT_BLOCK, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        a, b = int(indptr[lo]), int(indptr[hi])
        if b > a:
            local = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(indptr[lo : hi + 1]))
            key = (local << 32) | np.asarray(cols[a:b], dtype=np.int64)
            order = np.argsort(key, kind="stable")
            cols[a:b] = np.asarray(cols[a:b])[order]
            vals[a:b] = np.asarray(vals[a:b])[order]
        lo = hi


class DenseScores:
    """A dense memory-mapped captions x videos matrix with :class:`SparseScores`' ``gather``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._mat = None

    def __getstate__(self):
        return {"path": self.path, "_mat": None}

    @property
    def matrix(self) -> np.ndarray:
        if self._mat is None:
            self._mat = np.load(self.path, mmap_mode="r")
        return self._mat

    def gather(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[np.ix_(rows, cols)], dtype=np.float32)
