"""teachkit: distil heavy text-video retrieval teachers into fast holistic students."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("teachkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
