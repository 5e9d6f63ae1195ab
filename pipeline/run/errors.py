"""Errors of the teacher stage that the CLI reports; torch-free, so a cached run never imports torch."""

from __future__ import annotations

from teachkit.util.errors import RuntimeFailure


class NonFiniteScoreError(RuntimeFailure, ValueError):
    """A teacher produced NaN/inf for a pair it claims to score; nothing of the shard is written."""


__all__ = ["NonFiniteScoreError"]
