"""Teachers: an explicit registry of kinds, one module each (adding a kind is adding a file).

The kinds, their modules, the code their scores depend on and their capabilities are one
table, :data:`KINDS` (:mod:`pipeline.teachers.kinds`). Every kind's module defines
``build(cfg, model, device)`` returning an object that implements
:class:`pipeline.teachers.protocol.Teacher`. Modules are imported only when a teacher of that
kind is built, so the CLI starts without torch/transformers.
"""

from __future__ import annotations

import importlib

from .kinds import KINDS, Kind, kind_of

__all__ = ["KINDS", "Kind", "build_teacher", "kind_of"]


def build_teacher(cfg, model, device):
    """Instantiate the teacher ``cfg`` describes (``model``: a resolved ModelRef or None).

    Whatever loading raises becomes one line naming the teacher and its folder: the known
    errors keep their class, anything else (transformers' OSError, ValueError, a
    SafetensorError, ...) becomes a :class:`~pipeline.teachers.models.ModelError` with the
    original chained (``TEACHKIT_TRACEBACK=1`` shows it)."""
    module = kind_of(cfg).module
    from transformers.utils import logging as hf_logging

    from teachkit.util.errors import TeachkitError

    from .models import ModelError

    # the run draws its own progress; a "Loading weights" bar per teacher is noise on stderr
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return importlib.import_module(module).build(cfg, model, device)
    except TeachkitError as e:
        text = e.one_line()
        raise type(e)(text if text.startswith("teacher ") else f"teacher {cfg.name}: {text}") from None
    except Exception as e:  # from_pretrained raises OSError, ValueError, RuntimeError, SafetensorError, ...
        where = f"plugin {cfg.plugin}" if cfg.plugin or model is None else f"model folder {model.path}"
        first = (str(e).strip().splitlines() or [""])[0]
        raise ModelError(f"teacher {cfg.name}: cannot load {where} as a {cfg.kind} teacher: "
                         f"{type(e).__name__}: {first}") from e
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
