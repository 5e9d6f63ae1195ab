"""Optional dependencies that come from extras: one import each, with an error a user can act on.

faiss comes from one of two extras (``teachkit[cpu]``: faiss-cpu, ``teachkit[gpu]``:
faiss-gpu), never from the core dependencies, because both wheels install the same
``faiss`` module (see pyproject.toml). A bare ``pip install teachkit`` therefore has none.
"""

from __future__ import annotations

from .errors import InputError


def require_faiss():
    """The ``faiss`` module; :class:`InputError` naming the extras when it is not installed."""
    try:
        import faiss
    except ImportError:
        raise InputError(
            "faiss is not installed: pip install 'teachkit[cpu]' (faiss-cpu), or 'teachkit[gpu]' (faiss-gpu, CUDA 12)"
        ) from None
    return faiss
