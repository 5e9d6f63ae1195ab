"""One writer per teacher run: a lock file on a local store, a lease object on an object store.

Two ``teachkit teachers run`` on one store computing the same teacher run would write the
same shards and both commit; worse, the second one's start deletes what it takes for the
first one's half-written temporaries. :class:`RunLock` makes the second one stop with one
line naming the holder (host, pid, since when).

- Local (:class:`FileLock`): ``locks/teacher=<t>/run-<r>.lock`` held with ``flock``, which
  the kernel releases when the holder dies, however it dies; the file records the holder.
  A file that names a holder but is not locked was left by a writer that died: it is taken
  over with a warning.
- Object store (:class:`Lease`): the same key holds a lease (holder, expiry) that the holder
  renews from a background thread every third of its length. A lease past its expiry
  belongs to a writer that stopped renewing (killed, or its machine gone): it is taken over
  with a warning. A holder that finds its lease taken over stops at its next write instead of
  committing (:meth:`RunLock.check`). Expiry compares the writers' clocks, so machines that
  share a store should keep them roughly in step (seconds, against a 60 s lease).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from typing import Callable

from .fs import LocalFS, StoreFS

#: seconds an object-store lease lasts without renewal
LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock."""

    host: str
    pid: int
    since: str  # ISO 8601, UTC
    token: str
    expires_at: float | None = None  # leases only: epoch seconds

    def describe(self) -> str:
        return f"host {self.host} pid {self.pid} since {self.since}"

    @classmethod
    def me(cls, expires_at: float | None = None) -> "Holder":
        since = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return cls(socket.gethostname(), os.getpid(), since, uuid.uuid4().hex, expires_at)

    @classmethod
    def parse(cls, data: bytes) -> "Holder | None":
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError):
            return None  # empty (released) or written by something else

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def _default_warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def run_lock(fs: StoreFS, key: str, what: str, *, lease_seconds: float = LEASE_SECONDS,
             warn: Callable[[str], None] = _default_warn) -> "RunLock":
    """The lock for ``what`` (e.g. ``"teacher t run r"``) at ``key`` of ``fs``."""
    if isinstance(fs, LocalFS):
        return FileLock(fs, key, what, warn)
    return Lease(fs, key, what, lease_seconds, warn)


class RunLock:
    """``acquire()`` or raise :class:`stores.layout.LockHeld`; ``check()`` before each write; ``release()``."""

    what: str
    warn: Callable[[str], None]

    def acquire(self) -> Holder | None:
        """Take the lock; return the stale holder it was taken over from, if any."""
        raise NotImplementedError

    def check(self, read: bool = False) -> None:
        """Raise if the lock was lost since :meth:`acquire` (object-store leases only); with
        ``read``, look at the lease itself rather than at what the last renewal saw."""

    def release(self) -> None:
        raise NotImplementedError

    def _refuse(self, holder: Holder | None, extra: str = ""):
        from .layout import LockHeld

        who = holder.describe() if holder else "another process (it has not recorded itself yet)"
        raise LockHeld(f"{self.what} is being written by {who}{extra}; wait for it to finish or stop it")

    def _took_over(self, holder: Holder, why: str) -> Holder:
        self.warn(f"{self.what}: taking over the writer lock of {holder.describe()} ({why})")
        return holder


class FileLock(RunLock):
    """``flock`` on a local lock file that records its holder (see module docstring)."""

    def __init__(self, fs: LocalFS, key: str, what: str, warn):
        self.path, self.what, self.warn = fs.path(key), what, warn
        self._fd: int | None = None

    def acquire(self) -> Holder | None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.parse(os.pread(fd, 4096, 0))
            os.close(fd)
            self._refuse(holder)
        stale = Holder.parse(os.pread(fd, 4096, 0))
        os.ftruncate(fd, 0)
        os.pwrite(fd, Holder.me().encode(), 0)
        os.fsync(fd)
        self._fd = fd
        self._finalizer = weakref.finalize(self, _release_fd, fd)
        if stale is not None:
            alive = stale.host == socket.gethostname() and _pid_alive(stale.pid)
            why = "it no longer holds it" + ("" if alive else ", its process is gone")
            return self._took_over(stale, why)
        return None

    def release(self) -> None:
        if self._fd is not None:
            self._finalizer()
            self._fd = None


def _release_fd(fd: int) -> None:
    import fcntl

    try:
        os.ftruncate(fd, 0)  # empty = released cleanly; a holder left in the file = died
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease(RunLock):
    """A lease object renewed by a background thread (see module docstring)."""

    def __init__(self, fs: StoreFS, key: str, what: str, seconds: float, warn):
        self.fs, self.key, self.what, self.warn = fs, key, what, warn
        self.seconds = float(seconds)
        self.me: Holder | None = None
        self.lost, self.lost_to = False, None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> Holder | None:
        try:
            return Holder.parse(self.fs.read_bytes(self.key))
        except FileNotFoundError:
            return None

    def _write(self, create: bool = False) -> None:
        self.me = Holder(**(asdict(self.me) | {"expires_at": time.time() + self.seconds}))
        if create:
            self.fs.create_bytes(self.key, self.me.encode())
        else:
            self.fs.write_bytes(self.key, self.me.encode())

    def acquire(self) -> Holder | None:
        current = self._read()
        stale = None
        if current is not None:
            left = (current.expires_at or 0.0) - time.time()
            if left > 0:
                self._refuse(current, f" (its lease expires in {left:.0f}s unless renewed)")
            stale = self._took_over(current, f"its lease expired {-left:.0f}s ago")
            self.fs.remove(self.key)
        self.me = Holder.me()
        try:
            self._write(create=True)  # conditional PUT (If-None-Match): one of two racing writers wins
        except FileExistsError:
            self.me = None
            self._refuse(self._read())
        # a racing taker-over may have deleted this lease right after it was created: look again
        time.sleep(min(0.2, self.seconds / 10))
        now = self._read()
        if now is None or now.token != self.me.token:
            self.me = None
            self._refuse(now)
        self._thread = threading.Thread(target=self._renew, name=f"lease {self.key}", daemon=True)
        self._thread.start()
        # a process ending on an exception gives the lease back at exit (a killed one cannot:
        # its lease expires)
        self._finalizer = weakref.finalize(self, _release_lease, self.fs, self.key, self.me.token, self._stop)
        return stale

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                now = self._read()
                if now is None or now.token != self.me.token:
                    self.lost, self.lost_to = True, now
                    return
                self._write()
            except Exception:  # a network blip: the next renewal tries again
                continue

    def check(self, read: bool = False) -> None:
        if read and self.me is not None and not self.lost:
            now = self._read()
            if now is None or now.token != self.me.token:
                self.lost, self.lost_to = True, now
        if self.lost:
            from .layout import LockHeld

            who = self.lost_to.describe() if self.lost_to else "another writer (or removed)"
            raise LockHeld(f"{self.what}: the writer lease was taken over by {who} "
                           "(this writer stopped renewing it for too long); stopping without committing")

    def release(self) -> None:
        if self.me is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self._finalizer()
        finally:
            self.me = None


def _release_lease(fs: StoreFS, key: str, token: str, stop: threading.Event) -> None:
    """Delete the lease if it is still this holder's (best effort: it expires anyway)."""
    stop.set()
    try:
        now = Holder.parse(fs.read_bytes(key))
        if now is not None and now.token == token:
            fs.remove(key)
    except FileNotFoundError:
        pass
    except Exception as e:  # at interpreter exit, the store may be unreachable
        _default_warn(f"could not release the writer lease {key} ({type(e).__name__}); it expires by itself")
