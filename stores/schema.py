"""The store's tables: one explicit Arrow schema each, the only contract between stages.

Files hold only the data columns; the partition columns (``teacher``, ``run``, ``split``,
``manifest``) live in the hive path and come back as columns through the DuckDB views
(:mod:`stores.connect`). Every file carries provenance in its key-value metadata
(:func:`file_metadata`). Bump :data:`SCHEMA_VERSION` whenever a schema below changes in a
way older readers cannot handle; :class:`stores.layout.Store` refuses other versions.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

#: partition columns of each table, in path order
PARTITIONS: dict[str, tuple[str, ...]] = {
    "videos": ("manifest",),
    "captions": ("manifest",),
    "scores": ("teacher", "run", "split"),
    "frames": ("teacher", "run", "split"),
    "embeddings": ("teacher", "run", "split"),
    "runs": ("teacher",),
    "failures": ("run",),
    "caption_audit": ("teacher", "run", "split"),  # teacher: the audit's name
    "features": ("encode", "split"),  # the encode pass's output, shared by teachers of one encoding
}

VIDEOS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        # what the decoder learned; null when the file could not be opened
        pa.field("duration", pa.float32()),
        pa.field("fps", pa.float32()),
        pa.field("frames", pa.int32()),
    ]
)

CAPTIONS = pa.schema(
    [
        pa.field("caption_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)

SCORE_DTYPES = {"float16": pa.float16(), "float32": pa.float32()}


def scores_schema(dtype: str = "float16") -> pa.Schema:
    """A teacher's text-video similarity, one row per scored (caption, video) pair."""
    return pa.schema(
        [
            pa.field("caption_id", pa.string(), nullable=False),
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("score", _score_type(dtype), nullable=False),
        ]
    )


def frames_schema(dtype: str = "float16") -> pa.Schema:
    """A teacher's frame-text relevance: one row per (caption, video, sampled frame)."""
    return pa.schema(
        [
            pa.field("caption_id", pa.string(), nullable=False),
            pa.field("video_id", pa.string(), nullable=False),
            pa.field("frame", pa.int16(), nullable=False),
            pa.field("score", _score_type(dtype), nullable=False),
        ]
    )


#: what an ``embeddings`` row embeds: a video or a caption (its id is a video_id or caption_id)
EMBEDDING_KINDS = ("video", "caption")


def embeddings_schema(dtype: str = "float16") -> pa.Schema:
    """A teacher's holistic embedding of one video or caption (normalised, as the teacher
    gives it): one row per (kind, id). The vector's width is the teacher's; float16 keeps
    it at about 2 bytes per dimension."""
    return pa.schema(
        [
            pa.field("kind", pa.string(), nullable=False),  # video | caption
            pa.field("id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.field("item", _score_type(dtype), nullable=False)), nullable=False),
        ]
    )


RUNS = pa.schema(
    [
        pa.field("fingerprint", pa.string(), nullable=False),
        pa.field("run", pa.string(), nullable=False),  # short form used in paths
        pa.field("kind", pa.string(), nullable=False),  # teacher kind or "manifest"
        pa.field("status", pa.string(), nullable=False),  # running | committed | failed
        pa.field("config", pa.string(), nullable=False),  # canonical JSON
        pa.field("manifest", pa.string(), nullable=False),
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("timings", pa.string(), nullable=False),  # JSON: stage -> seconds
        pa.field("metrics", pa.string(), nullable=False),  # JSON: test-split retrieval
        pa.field("code_version", pa.string(), nullable=False),
        pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)

FAILURES = pa.schema(
    [
        pa.field("item", pa.string(), nullable=False),  # video id / path / caption id
        pa.field("error", pa.string(), nullable=False),
        # error: the input was not used; warning: used in part (e.g. frames lost to corrupt
        # packets). Files written before this column are all errors.
        pa.field("level", pa.string()),
    ]
)

#: a caption audit's verdict per caption (teachkit.audit): higher score, more likely a wrong caption
CAPTION_AUDIT = pa.schema(
    [
        pa.field("caption_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("flagged", pa.bool_(), nullable=False),
    ]
)

#: the encode pass's output (pipeline.run.encode): one row per video of an encode shard. ``features``
#: is the serialised feature dict the teacher's ``encode_videos`` gave for that video (null when the
#: video could not be decoded); ``level`` says whether ``note`` is a decode error (the video is left
#: out) or a warning (used in part). Not a view: runs read it, the student never does.
FEATURES = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("features", pa.large_binary()),
        pa.field("level", pa.string()),  # null | error | warning
        pa.field("note", pa.string()),
    ]
)

_FIXED = {"videos": VIDEOS, "captions": CAPTIONS, "runs": RUNS, "failures": FAILURES,
          "caption_audit": CAPTION_AUDIT, "features": FEATURES}


def _score_type(dtype: str) -> pa.DataType:
    try:
        return SCORE_DTYPES[dtype]
    except KeyError:
        raise ValueError(f"score dtype {dtype!r} is not one of {sorted(SCORE_DTYPES)}") from None


def schema_for(table: str, score_dtype: str = "float16") -> pa.Schema:
    """The schema of ``table`` (scores, frames and embeddings take the configured dtype)."""
    if table == "scores":
        return scores_schema(score_dtype)
    if table == "frames":
        return frames_schema(score_dtype)
    if table == "embeddings":
        return embeddings_schema(score_dtype)
    try:
        return _FIXED[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}; tables are {sorted(PARTITIONS)}") from None


def file_metadata(table: str, producer: str, fingerprint: str) -> dict[bytes, bytes]:
    """Provenance written into every Parquet file's key-value metadata."""
    return {
        b"teachkit.table": table.encode(),
        b"teachkit.schema_version": str(SCHEMA_VERSION).encode(),
        b"teachkit.producer": producer.encode(),
        b"teachkit.fingerprint": fingerprint.encode(),
    }
