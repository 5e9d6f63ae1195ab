"""Teacher knowledge for training batches, read from the store through DuckDB.

The student never runs a teacher: everything it learns from one is a row of the store's
``scores`` (caption x video similarity) or ``frames`` (frame-text relevance of a caption and
its own video) views. For a batch of B (caption, video) pairs it needs, per teacher, the
B x B in-batch score matrix and the relevance of each of the B matched pairs.

One query per batch would scan every score of the split once per batch (about 90 ms per
batch on the demo store, more than a training step). Because the batch order is fixed in
advance, :class:`KnowledgeReader` instead fetches a *window* of batches at once: the
window's (batch, row, caption) and (batch, column, video) slots are registered as two small
Arrow tables and joined with the views, so one scan serves many batches (a 256-batch
window costs about 6 ms per batch for three teachers on the demo store, where one query
per batch costs 90 ms; ``data.teacher_window``).

That scan still grows with the store: at MSR-VTT size (180k captions x 9k videos per
teacher) a window costs about 1.5 s per batch. :class:`MatrixReader` (``data.teacher_source
= "matrix"``, the default) streams each teacher's scores of the split through DuckDB once,
into a memory-mapped float16 captions x videos matrix cached beside the frame cache (keyed
by the teacher's run, which never changes once committed, and by the caption and video
order), and keeps the matched pairs' frame relevance in memory; a batch is then a B x B
gather from the page cache. Every student and seed of a store shares the file. Its size is
captions x videos x 2 bytes per teacher (3.2 GB for full MSR-VTT in float16; 8 MB for the demo);
``"window"`` keeps nothing on disk.

A teacher whose run scored a ``topk`` plan is not densified: :class:`MatrixReader` keeps it
as a memory-mapped CSR (:mod:`student.sparse`; caption -> sorted video columns and scores),
whose size is captions x k, so its memory does not grow with the number of videos.

Relational losses (:mod:`student.losses.intra`) need, per teacher, the in-batch
*intra-modal* matrices: video x video and caption x caption cosines of the teacher's stored
holistic embeddings (the ``embeddings`` view). :class:`MatrixReader` streams each such
teacher's train-split embeddings once into two memory-mapped (rows x D) arrays cached
beside its score matrix (in the store's precision); a batch gathers B rows of each and
takes their B x B cosines, which costs far less than caching a videos x videos matrix
(for full MSR-VTT: 180k + 9k rows x 512 x 2 bytes = 190 MB per teacher). The ``window``
reader fetches the window's embeddings in one query instead.

The bank term (:mod:`student.losses.bank`) reads whole rows: :meth:`MatrixReader.full_rows`
gives each caption's scores over every train video (B rows of the matrix), and, with
``columns=True``, :meth:`MatrixReader.full_columns` each video's over every train caption,
from a second, videos x captions copy of each dense matrix written once beside it (the same
size again) and from a column index of each ``topk`` CSR built in memory.

Entries a teacher did not score (a ``topk`` plan), and ids it has no embedding for, come
back as NaN and are masked out of the losses. Each reader opens its own DuckDB connection in the process that uses it (DuckDB
is not fork-safe) and runs each query on a fresh cursor.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

import stores
from teachkit.util.atomic import atomic_path
from stores.splits import cross_fitted_captions, current_teachers, teacher_plans

from .config import ConfigError
from .sparse import DenseScores, SparseScores, build_sparse

SCORES_SQL = """
SELECT s.teacher, p.batch, p.row, q.col, s.score
FROM scores s
JOIN window_captions p ON s.caption_id = p.caption_id
JOIN window_videos q ON q.batch = p.batch AND q.video_id = s.video_id
WHERE s.split = ? AND s.teacher IN ({teachers})
"""

FRAMES_SQL = """
SELECT f.teacher, p.batch, p.row, f.frame, f.score
FROM frames f
JOIN window_captions p ON f.caption_id = p.caption_id AND f.video_id = p.video_id
WHERE f.split = ? AND f.teacher IN ({teachers})
"""

_INHERITED: list = []  # connections a forked worker inherited (see KnowledgeReader._connection)


@dataclass
class BatchKnowledge:
    """Teacher knowledge of one batch (rows: captions, columns: videos, both in batch order)."""

    scores: np.ndarray  # (K, B, B) float32, NaN where a teacher did not score the pair
    relevance: np.ndarray  # (Kf, B, F) float32 teacher frame slots, NaN where absent
    # (Kr, B, B) float32 teacher cosines between the batch's videos / captions, NaN where
    # the teacher has no embedding of one of the two
    video_sims: np.ndarray | None = None
    caption_sims: np.ndarray | None = None


EMBEDDINGS_SQL = """
SELECT m.{index} AS row, e.vector
FROM embeddings e
JOIN {ids} m ON e.id = m.{column}
WHERE e.teacher = ? AND e.split = ? AND e.run = ? AND e.kind = ?
"""

WINDOW_EMBEDDINGS_SQL = """
SELECT e.teacher, e.kind, e.id, e.vector
FROM embeddings e
WHERE e.split = ? AND e.teacher IN ({teachers})
  AND ((e.kind = 'caption' AND e.id IN (SELECT caption_id FROM window_captions))
    OR (e.kind = 'video' AND e.id IN (SELECT video_id FROM window_videos)))
"""


class EmbeddingsMissing(ConfigError):
    """A relational loss names a teacher that stored no embeddings of the split."""


def cosines(vectors: np.ndarray) -> np.ndarray:
    """(B, B) cosine similarities of (B, D) vectors (NaN rows stay NaN), in float32."""
    v = np.asarray(vectors, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return v @ v.T


def _vectors(table: pa.Table, rows: int, dtype) -> np.ndarray:
    """(rows, D) array of a (row, vector) table's vectors, NaN for rows it does not hold."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return np.full((rows, 1), np.nan, dtype=dtype)
    vectors = table.column("vector").combine_chunks()
    width = pc.list_value_length(vectors)
    d = int(pc.max(width).as_py())
    if int(pc.min(width).as_py()) != d:
        raise ValueError("embeddings of one teacher, split and kind have different widths")
    out = np.full((rows, d), np.nan, dtype=dtype)
    out[table.column("row").to_numpy()] = pc.list_flatten(vectors).to_numpy().reshape(-1, d).astype(dtype)
    return out


class KnowledgeReader:
    """Fetches teacher scores and frame relevance for windows of batches (see module doc)."""

    def __init__(self, store_root: str, split: str, score_teachers: list[str], frame_teachers: list[str],
                 relational_teachers: list[str] = (), teaching: dict[str, set[str] | None] | None = None):
        self.store_root = str(store_root)
        self.split = split
        self.score_teachers = list(score_teachers)
        self.teaching = dict(teaching or {})  # score teacher -> the captions it teaches (None or absent: all)
        self.frame_teachers = list(frame_teachers)
        self.relational_teachers = list(relational_teachers)
        self._con = None
        self._pid = None

    def _connection(self):
        # DuckDB must not cross a fork: (re)connect in whichever process reads
        if self._con is not None and self._pid != os.getpid():
            # a connection inherited through fork is never used nor closed: its destructor
            # would wait on the parent's threads, which do not exist here
            _INHERITED.append(self._con)
            self._con = None
        if self._con is None:
            self._con = stores.connect(self.store_root)
            self._pid = os.getpid()
        return self._con

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_con"] = None
        state["_pid"] = None
        return state

    def fetch(self, batches: list[tuple[list[str], list[str]]]) -> list[BatchKnowledge]:
        """Knowledge for each (caption_ids, video_ids) batch of a window, in order."""
        sizes = [len(c) for c, _ in batches]
        b_max = max(sizes)
        w = len(batches)
        k, kf, kr = len(self.score_teachers), len(self.frame_teachers), len(self.relational_teachers)
        scores = np.full((w, k, b_max, b_max), np.nan, dtype=np.float32)
        relevance = None
        vectors: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        if k or kf or kr:
            cur = self._connection().cursor()
            cur.register("window_captions", _caption_slots(batches))
            cur.register("window_videos", _video_slots(batches))
            if k:
                t = _run(cur, SCORES_SQL, self.split, self.score_teachers)
                ti = _codes(t.column("teacher"), self.score_teachers)
                scores[_np(t, "batch"), ti, _np(t, "row"), _np(t, "col")] = _np(t, "score", np.float32)
            if kf:
                t = _run(cur, FRAMES_SQL, self.split, self.frame_teachers)
                frame = _np(t, "frame")
                n_frames = int(frame.max()) + 1 if len(frame) else 1
                relevance = np.full((w, kf, b_max, n_frames), np.nan, dtype=np.float32)
                ti = _codes(t.column("teacher"), self.frame_teachers)
                relevance[_np(t, "batch"), ti, _np(t, "row"), frame] = _np(t, "score", np.float32)
            if kr:
                t = _run(cur, WINDOW_EMBEDDINGS_SQL, self.split, self.relational_teachers)
                for teacher, kind, vid, vec in zip(*(t.column(c).to_pylist() for c in ("teacher", "kind", "id", "vector"))):
                    vectors.setdefault((teacher, kind), {})[vid] = np.asarray(vec, dtype=np.float32)
            cur.close()
        if relevance is None:
            relevance = np.full((w, kf, b_max, 1), np.nan, dtype=np.float32)
        for ki, t in enumerate(self.score_teachers):
            allowed = self.teaching.get(t)
            if allowed is not None:
                for i, (cids, _) in enumerate(batches):
                    scores[i, ki, [r for r, c in enumerate(cids) if c not in allowed]] = np.nan
        out = []
        for i, (cids, vids) in enumerate(batches):
            video_sims = np.stack([_window_cosines(vectors.get((t, "video"), {}), vids) for t in self.relational_teachers]
                                  ) if kr else np.zeros((0, sizes[i], sizes[i]), np.float32)
            caption_sims = np.stack([_window_cosines(vectors.get((t, "caption"), {}), cids)
                                     for t in self.relational_teachers]) if kr else video_sims
            out.append(BatchKnowledge(scores[i, :, : sizes[i], : sizes[i]], relevance[i, :, : sizes[i]],
                                      video_sims, caption_sims))
        return out


MATRIX_SCORES_SQL = """
SELECT c.row, v.col, s.score
FROM scores s
JOIN matrix_captions c ON s.caption_id = c.caption_id
JOIN matrix_videos v ON s.video_id = v.video_id
WHERE s.teacher = ? AND s.split = ? AND s.run = ?
"""

MATRIX_FRAMES_SQL = """
SELECT c.row, f.frame, f.score
FROM frames f
JOIN matrix_captions c ON f.caption_id = c.caption_id AND f.video_id = c.video_id
WHERE f.teacher = ? AND f.split = ? AND f.run = ?
"""


class MatrixReader:
    """Teacher knowledge from whole per-teacher score matrices, built once (see module doc).

    ``pairs`` are the (caption_id, video_id) training pairs the batches draw from and
    ``video_ids`` every video a batch may hold. Building happens here, in the process that
    creates the reader, before any DataLoader worker forks; workers only read the memory
    maps (reopened lazily after a pickle).
    """

    def __init__(
        self,
        store_root: str,
        split: str,
        score_teachers: list[str],
        frame_teachers: list[str],
        pairs: list[tuple[str, str]],
        video_ids: list[str],
        cache: str | Path,
        progress=None,
        relational_teachers: list[str] = (),
        teaching: dict[str, set[str] | None] | None = None,
        columns: bool = False,
    ):
        self.split = split
        self.score_teachers = list(score_teachers)
        self.frame_teachers = list(frame_teachers)
        self.relational_teachers = list(relational_teachers)
        caption_ids = [c for c, _ in pairs]
        self._row = {c: i for i, c in enumerate(caption_ids)}
        self._col = {v: j for j, v in enumerate(video_ids)}
        if len(self._row) != len(caption_ids) or len(self._col) != len(video_ids):
            raise ValueError("MatrixReader: caption and video ids must be distinct")
        order = hashlib.sha256("\n".join(caption_ids + ["--"] + list(video_ids)).encode()).hexdigest()[:16]
        # per score teacher, which rows it teaches (None: all); the cached matrices stay whole
        teaching = teaching or {}
        self._teaches = [None if teaching.get(t) is None else np.array([c in teaching[t] for c in caption_ids])
                         for t in self.score_teachers]
        self._sources: list[DenseScores | SparseScores] = []  # per score teacher
        # per score teacher, its scores by video (``columns``: the bank's v2t rows): a transposed
        # dense cache, or a column index of a topk teacher's CSR
        self._columns: list[DenseScores | _Columns] = []
        self._embedding_paths: list[tuple[Path, Path]] = []  # per relational teacher: (videos, captions)
        self.relevance = np.full((len(self.frame_teachers), len(caption_ids), 1), np.nan, dtype=np.float32)
        self._embs = None
        if not (self.score_teachers or self.frame_teachers or self.relational_teachers):
            self._embs = []
            return
        con = stores.connect(store_root)
        try:
            runs = {t: r["run"] for t, r in current_teachers(con).items()}
            plans = teacher_plans(con)
            missing = sorted(set(self.score_teachers + self.frame_teachers + self.relational_teachers) - set(runs))
            if missing:
                raise ValueError(f"no committed run in {store_root} for teacher(s) {missing}")
            cur = con.cursor()
            cur.register("matrix_captions", pa.table({
                "caption_id": pa.array(caption_ids, pa.string()),
                "video_id": pa.array([v for _, v in pairs], pa.string()),
                "row": pa.array(np.arange(len(caption_ids), dtype=np.int32)),
            }))
            cur.register("matrix_videos", pa.table({
                "video_id": pa.array(list(video_ids), pa.string()),
                "col": pa.array(np.arange(len(video_ids), dtype=np.int32)),
            }))
            store = stores.Store(store_root)
            for t in self.score_teachers:
                folder = Path(cache) / "teachers" / f"{t}-{runs[t]}"
                dtype = store.score_dtype(t, runs[t], split)
                if plans.get(t, {}).get("kind") == "topk":  # ~k scores per caption: a CSR, not a matrix
                    path = folder / f"{split}-{order}.csr"
                    if not path.exists():
                        build_sparse(cur, path, len(caption_ids), dtype, [t, split, runs[t]], MATRIX_SCORES_SQL, progress)
                    self._sources.append(SparseScores(path))
                    if columns:
                        self._columns.append(_Columns(self._sources[-1], len(video_ids)))
                    continue
                path = folder / f"{split}-{order}.npy"
                if not path.exists():
                    _build_matrix(cur, path, (len(caption_ids), len(video_ids)), dtype, [t, split, runs[t]], progress)
                self._sources.append(DenseScores(path))
                if columns:
                    by_video = folder / f"{split}-{order}-by-video.npy"
                    if not by_video.exists():
                        _transpose(self._sources[-1].matrix, by_video)
                    self._columns.append(DenseScores(by_video))
            self.relevance = self._frame_relevance(cur, runs, len(caption_ids))
            for t in self.relational_teachers:
                folder = Path(cache) / "teachers" / f"{t}-{runs[t]}"
                paths = (folder / f"{split}-{order}-video-embeddings.npy", folder / f"{split}-{order}-caption-embeddings.npy")
                for path, (kind, ids, column, n) in zip(paths, (("video", "matrix_videos", "video_id", len(video_ids)),
                                                                ("caption", "matrix_captions", "caption_id", len(caption_ids)))):
                    if not path.exists():
                        sql = EMBEDDINGS_SQL.format(ids=ids, column=column, index="col" if kind == "video" else "row")
                        _build_embeddings(cur, path, sql, [t, split, runs[t], kind], n,
                                          store.score_dtype(t, runs[t], split, "embeddings"))
                self._embedding_paths.append(paths)
            cur.close()
        finally:
            con.close()

    def _frame_relevance(self, cur, runs: dict, n_captions: int) -> np.ndarray:
        """(Kf, captions, teacher frames) relevance of each caption with its own video."""
        tables = [cur.sql(MATRIX_FRAMES_SQL, params=[t, self.split, runs[t]]).to_arrow_table()
                  for t in self.frame_teachers]
        n_frames = max([int(_np(t, "frame").max()) + 1 for t in tables if t.num_rows] or [1])
        out = np.full((len(tables), n_captions, n_frames), np.nan, dtype=np.float32)
        for k, t in enumerate(tables):
            out[k, _np(t, "row"), _np(t, "frame")] = _np(t, "score", np.float32)
        return out

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_embs"] = None
        return state

    def matrices(self) -> list[np.ndarray]:
        """Per score teacher, its whole memory-mapped matrix (dense teachers only)."""
        return [s.matrix for s in self._sources if isinstance(s, DenseScores)]

    def sparse(self, teacher: str) -> SparseScores | None:
        """The CSR of a ``topk`` score teacher (rows: the reader's pairs, columns: its videos), else None."""
        source = self._sources[self.score_teachers.index(teacher)] if teacher in self.score_teachers else None
        return source if isinstance(source, SparseScores) else None

    def embeddings(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per relational teacher, its (videos x D, captions x D) memory-mapped embeddings."""
        if self._embs is None:
            self._embs = [(np.load(v, mmap_mode="r"), np.load(c, mmap_mode="r")) for v, c in self._embedding_paths]
        return self._embs

    def full_rows(self, caption_ids: list[str]) -> np.ndarray:
        """(K, B, V) float32: each score teacher's rows of ``caption_ids`` over every video of
        the reader (its ``video_ids`` order), NaN where it did not score or does not teach."""
        rows = np.array([self._row[c] for c in caption_ids], dtype=np.int64)
        out = _whole_rows(self._sources, rows, len(self._col))
        for k, teaches in enumerate(self._teaches):
            if teaches is not None:
                out[k, ~teaches[rows]] = np.nan
        return out

    def full_columns(self, video_ids: list[str]) -> np.ndarray:
        """(K, B, C) float32: each score teacher's scores of every caption of the reader (its
        ``pairs`` order) with each of ``video_ids``, NaN where it did not score the pair or does
        not teach the caption. Needs a reader built with ``columns=True``."""
        if len(self._columns) != len(self._sources):
            raise ValueError("MatrixReader.full_columns: build the reader with columns=True")
        cols = np.array([self._col[v] for v in video_ids], dtype=np.int64)
        out = _whole_rows(self._columns, cols, len(self._row))
        for k, teaches in enumerate(self._teaches):
            if teaches is not None:
                out[k][:, ~teaches] = np.nan
        return out

    def fetch(self, batches: list[tuple[list[str], list[str]]]) -> list[BatchKnowledge]:
        """Knowledge for each (caption_ids, video_ids) batch, as :meth:`KnowledgeReader.fetch`."""
        out = []
        for cids, vids in batches:
            try:
                rows = np.array([self._row[c] for c in cids], dtype=np.int64)
                cols = np.array([self._col[v] for v in vids], dtype=np.int64)
            except KeyError as e:
                raise KeyError(f"{e.args[0]!r} is not among the pairs this MatrixReader was built for") from None
            scores = np.stack([s.gather(rows, cols) for s in self._sources]) if self._sources else np.zeros(
                (0, len(rows), len(cols)), dtype=np.float32)
            for k, teaches in enumerate(self._teaches):
                if teaches is not None:
                    scores[k, ~teaches[rows]] = np.nan
            embs = self.embeddings()
            empty = np.zeros((0, len(rows), len(rows)), dtype=np.float32)
            video_sims = np.stack([cosines(v[cols]) for v, _ in embs]) if embs else empty
            caption_sims = np.stack([cosines(c[rows]) for _, c in embs]) if embs else empty
            out.append(BatchKnowledge(scores, self.relevance[:, rows], video_sims, caption_sims))
        return out


def _window_cosines(vectors: dict[str, np.ndarray], ids: list[str]) -> np.ndarray:
    width = len(next(iter(vectors.values()))) if vectors else 1
    missing = np.full(width, np.nan, dtype=np.float32)
    return cosines(np.stack([vectors.get(i, missing) for i in ids]))


def _whole_rows(sources: list, index: np.ndarray, width: int) -> np.ndarray:
    """(K, len(index), width) float32: rows ``index`` of each source, NaN where it has no entry.

    A source is a dense memory-mapped matrix (:class:`DenseScores`) or anything with
    ``row(i) -> (positions, scores)`` (a topk teacher's CSR, or its :class:`_Columns`)."""
    out = np.full((len(sources), len(index), width), np.nan, dtype=np.float32)
    for k, source in enumerate(sources):
        if isinstance(source, DenseScores):
            order = np.argsort(index)  # memmap reads in file order
            out[k, order] = source.matrix[index[order]]
        else:  # its k entries per row
            for i, r in enumerate(index):
                positions, scores = source.row(int(r))
                out[k, i, positions] = scores
    return out


class _Columns:
    """A topk teacher's CSR indexed by video: the captions that scored each video, and their scores."""

    def __init__(self, source: SparseScores, n_videos: int):
        indptr, cols, scores = source.arrays
        rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(np.asarray(indptr)))
        order = np.argsort(np.asarray(cols), kind="stable")
        self.rows = rows[order]
        self.scores = np.asarray(scores)[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(np.asarray(cols), minlength=n_videos))])

    def row(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(caption rows, scores) of video ``c``: a row of the transposed CSR."""
        a, b = int(self.indptr[c]), int(self.indptr[c + 1])
        return self.rows[a:b], self.scores[a:b]


def _transpose(matrix: np.ndarray, path: Path, block: int = 4096) -> None:
    """Write ``matrix.T`` to the .npy at ``path`` (atomically), ``block`` rows of ``matrix`` at a time."""
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=matrix.dtype, shape=matrix.shape[::-1])
        for start in range(0, matrix.shape[0], block):
            out[:, start:start + block] = np.asarray(matrix[start:start + block]).T
        out.flush()
        del out


def _build_matrix(cur, path: Path, shape: tuple[int, int], dtype: str, params: list, progress=None) -> None:
    """Stream one teacher's scores into a NaN-filled ``dtype`` .npy at ``path`` (atomically).

    The matrix keeps the precision the store kept (float16 by default), so it is exact.
    """
    dtype = np.float16 if dtype == "float16" else np.float32
    with atomic_path(path) as tmp:
        mat = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        mat[:] = np.nan
        task = progress.add_task(f"teacher matrix {params[0]}", total=None, unit="scores") if progress else None
        reader = cur.sql(MATRIX_SCORES_SQL, params=params).to_arrow_reader(1 << 20)
        done = 0
        for batch in reader:
            mat[batch.column(0).to_numpy(), batch.column(1).to_numpy()] = batch.column(2).to_numpy().astype(dtype)
            done += batch.num_rows
            if task is not None:
                progress.advance(task, batch.num_rows)
        if task is not None:
            progress.update(task, total=done)  # the row count is known only now: mark the task complete
        mat.flush()
        del mat


def _build_embeddings(cur, path: Path, sql: str, params: list, rows: int, dtype: str) -> None:
    """One teacher's embeddings of one kind, in the reader's row order, into a .npy (atomically)."""
    from teachkit.util.atomic import atomic_path

    t = cur.sql(sql, params=params).to_arrow_table()
    if t.num_rows == 0:
        raise EmbeddingsMissing(
            f"loss.relational.teachers: teacher {params[0]!r} (run {params[2]}) stored no {params[3]} embeddings "
            f"of split {params[1]!r}; relational losses need teachers with holistic embeddings (the embeddings view)"
        )
    vectors = _vectors(t, rows, np.float32).astype(np.float16 if dtype == "float16" else np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, vectors)


def knowledge_reader(data, score_teachers, frame_teachers, pairs, video_ids, progress=None, relational_teachers=(),
                     cross_fit: bool = False, columns: bool = False):
    """The reader ``data.teacher_source`` names, for the split ``data.train_split``.

    ``cross_fit``: each fold teacher's scores teach only the captions it never trained on
    (:func:`stores.splits.cross_fitted_captions`); its other rows read as unscored (NaN).
    ``columns``: also index the scores by video (:meth:`MatrixReader.full_columns`).
    """
    teaching = None
    if cross_fit and score_teachers:
        with stores.connect(data.store) as con:
            teaching = cross_fitted_captions(con, data.train_split, list(score_teachers))
        if all(v is None for v in teaching.values()):
            raise ConfigError(f"loss.coarse.cross_fit: none of the teachers {list(score_teachers)} declares a fold "
                              "holdout (teacher config holdout = \"fold:i/n\"), so there is nothing to cross-fit")
    if data.teacher_source == "window":
        return KnowledgeReader(data.store, data.train_split, score_teachers, frame_teachers, relational_teachers,
                               teaching)
    return MatrixReader(data.store, data.train_split, score_teachers, frame_teachers, pairs, video_ids,
                        data.cache, progress, relational_teachers, teaching, columns)


def _caption_slots(batches) -> pa.Table:
    """(caption_id, video_id, batch, row): row i of batch b is caption i and its own video."""
    cids, vids, batch, row = [], [], [], []
    for b, (c, v) in enumerate(batches):
        cids += list(c)
        vids += list(v)
        batch += [b] * len(c)
        row += range(len(c))
    return pa.table({
        "caption_id": pa.array(cids, pa.string()),
        "video_id": pa.array(vids, pa.string()),
        "batch": pa.array(batch, pa.int32()),
        "row": pa.array(row, pa.int32()),
    })


def _video_slots(batches) -> pa.Table:
    """(video_id, batch, col): column j of batch b is video j."""
    vids, batch, col = [], [], []
    for b, (_, v) in enumerate(batches):
        vids += list(v)
        batch += [b] * len(v)
        col += range(len(v))
    return pa.table({
        "video_id": pa.array(vids, pa.string()),
        "batch": pa.array(batch, pa.int32()),
        "col": pa.array(col, pa.int32()),
    })


def _run(cur, sql: str, split: str, teachers: list[str]) -> pa.Table:
    marks = ", ".join("?" for _ in teachers)
    return cur.sql(sql.format(teachers=marks), params=[split, *teachers]).to_arrow_table()


def _np(t: pa.Table, col: str, dtype=None) -> np.ndarray:
    """A column as numpy, in its own dtype unless asked (int32/int16 indices index fine)."""
    a = t.column(col).to_numpy()
    return a if dtype is None else a.astype(dtype, copy=False)


def _codes(col: pa.ChunkedArray, names: list[str]) -> np.ndarray:
    """Index of each value of ``col`` in ``names`` (vectorised: a window holds millions)."""
    import pyarrow.compute as pc

    return pc.index_in(col, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False).astype(np.int64)


def _grid(n: np.ndarray, width: int) -> np.ndarray:
    """Row-wise ``np.linspace(0, 1, n)`` values, bit for bit, in a (rows, width) array."""
    step = 1.0 / np.maximum(n - 1, 1).astype(np.float64)
    grid = np.arange(width, dtype=np.float64)[None, :] * step[:, None]
    last = np.maximum(n - 1, 0)
    grid[np.arange(len(n)), np.minimum(last, width - 1)] = np.where(n > 1, 1.0, 0.0)
    return grid


def align_relevance(relevance: np.ndarray, student_mask: np.ndarray) -> np.ndarray:
    """Teacher frame relevance resampled at the student's frames: (..., T_student).

    Teacher and student both sample frames uniformly over the clip (CLIP4Clip sampling,
    :func:`teachkit.util.media.sample_indices`), usually at different counts (e.g. 12 vs 4). Slot i
    of n real frames sits at relative position i / (n - 1), so the teacher's relevance is
    linearly interpolated at the student's positions: exactly ``np.interp`` over each row's
    real frames (same float64 arithmetic), for all rows at once. NaN where either side has
    no frames.
    """
    lead = relevance.shape[:-1]
    rel = relevance.reshape(-1, relevance.shape[-1])
    mask = np.broadcast_to(student_mask, lead + student_mask.shape[-1:]).reshape(-1, student_mask.shape[-1])
    rows, width_t = rel.shape
    real_t = ~np.isnan(rel)
    n_t, n_s = real_t.sum(-1), mask.sum(-1)
    # each row's real teacher values first, in frame order, at positions linspace(0, 1, n_t)
    fp = np.take_along_axis(rel, np.argsort(~real_t, axis=-1, kind="stable"), axis=-1).astype(np.float64)
    xp = _grid(n_t, width_t)
    # the k-th real student frame sits at linspace(0, 1, n_s)[k]
    rank = np.cumsum(mask, axis=-1) - 1
    x = np.take_along_axis(_grid(n_s, mask.shape[-1]), np.maximum(rank, 0), axis=-1)
    valid_t = np.arange(width_t)[None, :] < n_t[:, None]
    j = ((xp[:, None, :] <= x[:, :, None]) & valid_t[:, None, :]).sum(-1) - 1  # xp[j] <= x < xp[j + 1]
    top = np.maximum(n_t - 1, 0)[:, None]
    j = np.clip(j, 0, top)
    j1 = np.minimum(j + 1, top)
    xj, xj1 = np.take_along_axis(xp, j, -1), np.take_along_axis(xp, j1, -1)
    fj, fj1 = np.take_along_axis(fp, j, -1), np.take_along_axis(fp, j1, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (fj1 - fj) / (xj1 - xj) * (x - xj) + fj
    out = np.where((x >= np.take_along_axis(xp, top, -1)) | (x == xj), np.where(x == xj, fj, fj1), inner)
    out = np.where(x >= np.take_along_axis(xp, top, -1), np.take_along_axis(fp, top, -1), out)
    out = out.astype(np.float32)
    out[~mask | (n_t == 0)[:, None]] = np.nan
    return out.reshape(lead + (mask.shape[-1],))
