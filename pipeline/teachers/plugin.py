"""``plugin`` teachers: a user's class named by a dotted path, implementing the teacher protocol.

``plugin = "my_pkg.teachers:XPoolTeacher"`` (or ``my_pkg.teachers.XPoolTeacher``) is
imported and instantiated as ``XPoolTeacher(model=<folder or HF id or None>,
device=<torch.device>, **options)`` where ``options`` is the teacher's ``[teachers.options]``
table. The class implements :class:`pipeline.teachers.protocol.Teacher`; its module's
source, its optional ``version`` attribute and the options are part of the fingerprint.
"""

from __future__ import annotations

import importlib

from teachkit.util.errors import InputError

from .protocol import Teacher


class PluginError(InputError, RuntimeError):
    """A plugin path that does not name a usable teacher class."""


def split_path(path: str) -> tuple[str, str]:
    """``module:Class`` or ``module.Class`` -> (module, Class)."""
    module, sep, name = path.partition(":")
    if not sep:
        module, _, name = path.rpartition(".")
    if not module or not name:
        raise PluginError(f"plugin {path!r}: expected `module:Class` or `module.Class`")
    return module, name


def load_class(path: str) -> type:
    module_name, name = split_path(path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise PluginError(f"plugin {path!r}: cannot import module {module_name!r}: {e}") from e
    obj = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"plugin {path!r}: module {module_name!r} has no {name!r}") from None
    if not isinstance(obj, type):
        raise PluginError(f"plugin {path!r} is a {type(obj).__name__}, not a class")
    missing = [m for m in ("encode_videos", "encode_captions", "score") if not callable(getattr(obj, m, None))]
    if missing:
        raise PluginError(f"plugin {path!r} does not implement the teacher protocol: missing {missing}")
    return obj


def build(cfg, model, device) -> Teacher:
    """The registry's entry: instantiate ``cfg.plugin`` with the teacher's options."""
    return instantiate(cfg.plugin, None if model is None else str(model.path), device, cfg.options)


def instantiate(path: str, model: str | None, device, options: dict) -> Teacher:
    cls = load_class(path)
    teacher = cls(model=model, device=device, **options)
    if not hasattr(teacher, "needs_frames"):
        raise PluginError(f"plugin {path!r}: instances need a `needs_frames` attribute (True or False)")
    return teacher


def identity(path: str) -> dict:
    """What of the plugin goes into the fingerprint besides its options (module source via
    :func:`pipeline.code_version.code_version`)."""
    cls = load_class(path)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "version": str(getattr(cls, "version", ""))}
