"""Files that appear whole or not at all, and the room a write has.

Every file a command writes besides the run file itself (figures, animations, JSON and
CSV tables, a sweep's index, an annotated run file) is written under a temporary name
and renamed into place once complete, so a command that fails (a full disk, a file-size
limit, Ctrl-C) leaves the file as it was, or absent, never cut short.
"""
from __future__ import annotations

import contextlib
import os

from .._checks import NO_ROOM


def temporary_name(path, keep_extension=False):
    """The temporary name :func:`replaced` writes to: ``path + ".tmp"``, or with
    ``keep_extension`` ``root + ".tmp" + ext`` (for writers that infer the format from
    the extension, as matplotlib does)."""
    path = os.fspath(path)
    if keep_extension:
        root, ext = os.path.splitext(path)
        return root + ".tmp" + ext
    return path + ".tmp"


@contextlib.contextmanager
def replaced(path, keep_extension=False):
    """Write ``path`` whole or not at all.

    Yields the temporary name to write to (see :func:`temporary_name`). When the block
    ends without an error the temporary file replaces ``path`` (an atomic rename on one
    file system); when it raises, the temporary file is removed and ``path`` is left as
    it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)write.
    keep_extension : bool
        Keep the extension last in the temporary name.

    Examples
    --------
    >>> import json, os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "a.json")
    >>> with replaced(out) as tmp:
    ...     with open(tmp, "w") as fh:
    ...         json.dump({"a": 1}, fh)
    >>> open(out).read()
    '{"a": 1}'
    """
    tmp = temporary_name(path, keep_extension)
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def space_left(path):
    """Bytes the file ``path`` may still grow by: the free space of its file system
    (for this user), capped by the process's file-size limit (``ulimit -f``) less the
    file's present size.

    Parameters
    ----------
    path : str or os.PathLike
        A file, existing or not; its directory must exist.

    Returns
    -------
    int
    """
    import resource

    path = os.fspath(path)
    st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    free = st.f_bavail * st.f_frsize
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY:
        free = min(free, soft - (os.path.getsize(path) if os.path.exists(path) else 0))
    return int(free)


def no_room(exc):
    """Whether ``exc`` is a write that failed for want of room (see :data:`NO_ROOM`);
    HDF5 reports those as OSError or RuntimeError with the errno in its text."""
    if isinstance(exc, OSError) and exc.errno in NO_ROOM:
        return True
    text = str(exc)
    return any(f"errno = {code}," in text for code in NO_ROOM) or any(
        os.strerror(code) in text for code in NO_ROOM)
