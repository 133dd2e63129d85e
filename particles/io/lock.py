"""One writer per run file: an exclusive advisory lock held for the life of a writer.

The lock is ``<file>.lock`` next to the run file, locked with ``flock`` and holding the
writer's process id. The kernel drops the lock when its process dies, so a lock file
left by a killed writer is stale: the next writer takes it over (and says so). A
second writer while the first one lives is refused with :class:`RunFileLocked`,
naming the process that holds the file.
"""
from __future__ import annotations

import fcntl
import os


class RunFileLocked(FileExistsError):
    """Another live process writes this run file."""


class WriterLock:
    """Exclusive lock on ``path`` (through ``path + ".lock"``).

    Parameters
    ----------
    path : str
        The run file.

    Attributes
    ----------
    stale_pid : int or None
        The process id found in a stale lock that was taken over.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.lock_path = self.path + ".lock"
        self.fd = None
        self.stale_pid = None

    def acquire(self):
        """Take the lock or raise :class:`RunFileLocked`; returns self."""
        if self.fd is not None:
            return self
        for _ in range(10):  # the file may be replaced between open and flock: retry
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                who = f"process {pid}" if pid else "another process"
                raise RunFileLocked(f"{self.path!r} is being written by {who}; wait for it "
                                    "to finish or stop it (one writer per run file)") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # a releasing writer unlinked it under us
                os.close(fd)
                continue
            self.stale_pid = _read_pid(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self.fd = fd
            return self
        raise RunFileLocked(f"{self.path!r}: could not take its lock file {self.lock_path!r}")

    def release(self):
        """Remove the lock file and drop the lock (idempotent)."""
        if self.fd is None:
            return
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_pid(fd):
    try:
        raw = os.pread(fd, 32, 0).decode().strip()
        return int(raw) if raw else None
    except (OSError, ValueError):
        return None
