"""Writing a run file: one run = one HDF5 file in the H5MD 1.1 layout.

Every dataset but the one-number slot switch carries a Fletcher-32 checksum per chunk,
so a damaged record is detected when it is read (``particles info --check`` reads them
all). Layout (see docs/architecture.md, "The run file")::

    /h5md                         version = [1, 1]; author/name; creator/{name, version}
    /particles/neurons/box        dimension = d + 2, boundary = "none" x (d + 2)
    /particles/neurons/position   step[T], time[T], value[T, m, d + 2]   (c | a | b)
    /particles/neurons/mass       [m] = 1/m
    /particles/teacher/position   [m0, d + 2]  (time-independent), when there is a teacher
    /observables/<name>           step[K], time[K], value[K]
    /parameters                   attrs: config (JSON), versions (JSON), seed, m, d, dtype,
                                  problem (JSON: kind, inputs, loss, teacher activation,
                                  bias and leak, origin "config" or "python")
        theta0                    [m, d + 2] initial particles, full precision
        checkpoint/theta          [2, m, d + 2] two slots, full precision
        checkpoint/state          [2] JSON: step, time, status, message, streams, solver, t_end
        checkpoint/active         which slot holds the latest complete checkpoint
        data/X, y, X_test, y_test the data set (data-set problems)

The file holds the resolved problem (teacher array or data set) and the initial
particles, so :func:`particles.resume` rebuilds exactly what ran, never from a seed.

The writer creates the file under a temporary name, then renames it into place once
every dataset exists, and switches to HDF5's single-writer/multiple-reader mode: from
then on records are flushed in blocks, the file can be read by another process while
it grows, and a killed run (SIGKILL included) leaves a file holding every record
flushed before the kill. A checkpoint is committed only after the records it covers
are flushed: it is written into the inactive one of two slots, flushed, and then
made active with a one-number write, so a kill at any moment leaves a complete
checkpoint that no flushed record postdates.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time as _time

import numpy as np

from .atomic import space_left
from .recorder import Recorder
from .layout import STATE_BYTES, _json_default, create_layout
from .lock import WriterLock

#: frames buffered between flushes are written early past this size
MAX_PENDING_BYTES = 64 * 2 ** 20
#: room kept free for HDF5's own metadata when a flush checks the space it needs
SPACE_MARGIN = 2 ** 18
#: bytes of HDF5 structure a new run file needs besides its arrays (31 KB measured)
CREATION_MARGIN = 2 ** 15


class StoreWriteError(OSError):
    """Writing the run file failed (disk full, file-size limit, read-only file system).

    The message says at which step and up to which time the file stays resumable.
    ``clean`` is True when the writer stopped before writing (the space was missing)
    and closed the file intact; False when a write itself failed, in which case HDF5
    may be unable to release the file before the process exits.
    """

    clean = True


def _reason(exc):
    # the errno text HDF5 reports ("No space left on device", "File too large", ...)
    text = str(exc)
    key = "error message = '"
    if key in text:
        return text.split(key, 1)[1].split("'", 1)[0]
    return text.splitlines()[0] if text else type(exc).__name__


class H5Writer(Recorder):
    """Streams a run into an HDF5 file (H5MD layout), flushing at every record.

    Parameters
    ----------
    path : str or path-like
        Output file. It must not exist unless ``overwrite``.
    storage_dtype : {"float64", "float32"}
        Precision of the stored snapshots (theta0 and the checkpoint keep the run's
        own precision).
    compression : {"none", "gzip", "lzf"}
    overwrite : bool
    flush_seconds : float
        Flush (records, then the checkpoint) at most this often; 0: at every record.
        Records are buffered between flushes and written in blocks (frames past
        64 MiB are written early), so memory stays bounded.
    resume_from : tuple (h5py.File, int, ndarray), optional
        ``(source, step, theta)``: the new file starts with the records of the open
        run file ``source`` up to ``step`` and the checkpoint ``theta`` (resume).
    lock : particles.io.lock.WriterLock, optional
        A lock on ``path`` already held by the caller (resume); otherwise the writer
        takes one, so that only one process ever writes a file.

    Notes
    -----
    A failed write (disk full, file-size limit) raises :class:`StoreWriteError`
    naming the step and the time up to which the file is resumable; the writer then
    lets go of the file and refuses further calls.
    """

    def __init__(self, path, storage_dtype="float64", compression="none", overwrite=False,
                 flush_seconds=0.5, resume_from=None, lock=None):
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"output {self.path!r} is a directory; allowed: a file path")
        self.flush_seconds = float(flush_seconds)
        self._pending_obs = []
        self._pending_frames = []
        self._pending_bytes = 0
        self._pending_ck = None
        self._last_flush = 0.0
        self.storage_dtype = np.dtype(storage_dtype)
        self.compression = None if compression == "none" else compression
        self.overwrite = overwrite
        self.f = None
        self._state = {}
        self._obs = {}
        self._pos = None
        self._source = resume_from
        self._step = 0
        self.failed = None
        self.lock = lock if lock is not None else WriterLock(self.path).acquire()
        if os.path.exists(self.path) and not overwrite:
            if lock is None:
                self.lock.release()
            raise FileExistsError(f"output file {self.path!r} exists; choose another path "
                                  "or allow overwriting")

    # ---------------------------------------------------------------- creation
    def begin(self, info):
        if self.f is not None:  # already begun (resume opens the file itself)
            return
        self._guard(self._begin, info)

    def _creation_bytes(self, info):
        """Bytes the new file needs before its first record, over-estimated: theta0,
        two checkpoint slots and their states, the problem's arrays, and HDF5's
        structure (measured: 31 KB plus 104 bytes per particle in d = 2)."""
        m, k = info["m"], info["d"] + 2
        problem = info.get("problem")
        data = sum(int(np.asarray(a).nbytes) for a in (
            getattr(problem, name, None) for name in ("X", "y", "X_test", "y_test",
                                                      "teacher")) if a is not None)
        return 4 * m * k * 8 + data + STATE_BYTES * 2 + CREATION_MARGIN

    def _begin(self, info):
        tmp = self.path + ".tmp"
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        need, free = self._creation_bytes(info), self._space_left(tmp)
        if free < need:  # refused before a byte is written: nothing to clean up
            self.lock.release()
            self.failed = StoreWriteError(
                f"no space left to create {self.path!r} ({free / 1e6:.3g} MB free or allowed, "
                f"{need / 1e6:.3g} MB needed before the first record); nothing was written")
            raise self.failed
        f = None
        opened = []
        try:
            with _DestructorFailures() as failed:
                # a write can fail where h5py reports it only from a destructor (a handle
                # dropped inside create_layout); HDF5 then crashes at its next call, so
                # every step checks for such a failure before the next one starts
                f = create_layout(info, tmp, self.storage_dtype, self.compression, opened)
                failed.check()
                theta = None
                if self._source is not None:
                    theta = self._copy_records(f, *self._source)
                    failed.check()
                self._state = dict(info.get("initial_state") or {})
                self._state.pop("theta", None)
                self._state.setdefault("status", "running")
                f.flush()
                failed.check()
                self._commit(f, theta)
                failed.check()
                f.close()
                failed.check()
            f = None
            os.replace(tmp, self.path)
        except BaseException as exc:
            if isinstance(exc, (OSError, RuntimeError)) and opened:
                # a write failed: HDF5 cannot release this file (closing it, or letting
                # its handles go, crashes the process); keep the handles, drop the file
                _UNRELEASABLE.append((tuple(opened), exc))  # exc: the handles in its frames
                _silence_h5py_destructors()
            else:
                _close_quietly(f if f is not None else (opened[0] if opened else None))
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        import h5py

        self.f = h5py.File(self.path, "r+", libver="latest")
        self.f.swmr_mode = True
        obs = self.f["observables"]
        self._obs = {k: (obs[k]["step"], obs[k]["time"], obs[k]["value"]) for k in obs}
        pos = self.f["particles/neurons/position"]
        self._pos = (pos["step"], pos["time"], pos["value"])
        self._last_flush = _time.perf_counter()

    def _commit(self, f, theta=None, **changes):
        """Write ``self._state`` updated with ``changes`` (and ``theta``, or the active
        slot's theta) into the inactive checkpoint slot, flush, then make that slot
        active and flush; ``self._state`` changes only once the slot is active, so an
        interruption anywhere in here leaves the previous checkpoint in force."""
        state = {**self._state, **changes}
        raw = json.dumps(state, default=_json_default).encode()
        if len(raw) > STATE_BYTES:
            raise ValueError(f"checkpoint state is {len(raw)} bytes; at most {STATE_BYTES}")
        ck = f["parameters/checkpoint"]
        active = int(ck["active"][()])
        slot = 1 - active
        ck["theta"][slot] = ck["theta"][active] if theta is None else theta
        ck["state"][slot] = np.bytes_(raw)
        f.flush()
        ck["active"][()] = slot
        f.flush()
        self._state = state

    def _copy_records(self, f, src, upto_step, ck_theta):
        """Copy every record with step <= upto_step from ``src`` (a resumed run)."""
        _copy_upto(src["particles/neurons/position"], f["particles/neurons/position"],
                   upto_step)
        for name in f["observables"]:
            if name in src["observables"]:
                _copy_upto(src["observables"][name], f["observables"][name], upto_step)
        f["parameters/theta0"][...] = src["parameters/theta0"][...]
        return ck_theta

    # ---------------------------------------------------------------- records
    def _guard(self, fn, *args):
        """Run a write; on an I/O error let go of the file and raise StoreWriteError."""
        if self.failed is not None:
            raise self.failed
        try:
            return fn(*args)
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, (FileExistsError, IsADirectoryError, StoreWriteError)):
                raise
            self._abandon()
            t = self._state.get("time")
            where = (f"`particles resume {self.path}` continues it from t = {t:.6g} (add "
                     "--salvage if it says the file is cut off)"
                     if t is not None and os.path.exists(self.path) else "nothing was kept")
            self.failed = StoreWriteError(f"writing {self.path!r} failed at step {self._step}: "
                                          f"{_reason(exc)}; {where}")
            self.failed.clean = False
            raise self.failed from None

    def _space_left(self, path=None):
        """Bytes the file ``path`` (default: this run file) may still grow by: free space
        on its file system, capped by the process's file-size limit."""
        return space_left(self.path if path is None else path)

    def _reserve(self, n_frames, n_obs, checkpoint):
        """Stop cleanly, before writing, when the records would not fit.

        Writing into a full disk leaves HDF5 unable to close the file (and the process
        crashing at exit); so the room a flush needs is checked first, and when it is
        missing the file is closed at its last checkpoint, intact and resumable.
        """
        if self.f is None:
            return
        value = self._pos[2]
        need = (n_frames * value.shape[1] * value.shape[2] * self.storage_dtype.itemsize
                + 24 * n_obs * max(len(self._obs), 1) + SPACE_MARGIN)
        if checkpoint:
            need += value.shape[1] * value.shape[2] * 8 + STATE_BYTES
        free = self._space_left()
        if free >= need:
            return
        t = self._state.get("time", 0.0)
        self._pending_frames, self._pending_obs, self._pending_ck = [], [], None
        f, self.f = self.f, None
        self._obs, self._pos = {}, None
        f.close()
        self.lock.release()
        self.failed = StoreWriteError(
            f"no space left for {self.path!r} at step {self._step} ({free / 1e6:.3g} MB "
            f"free or allowed, {need / 1e6:.3g} MB needed); the file is intact and "
            f"resumable up to t = {t:.6g}")
        raise self.failed

    def _abandon(self):
        # HDF5 cannot release a file it failed to write: closing it, or letting h5py's
        # handles go, only fails again (with a traceback per handle, and a crash when
        # the library shuts down). The handles are kept alive instead; the command line
        # then ends the process without HDF5's shutdown (see cli.main).
        _UNRELEASABLE.append((self.f, self._obs, self._pos))
        _silence_h5py_destructors()
        self._obs, self._pos = {}, None
        self._pending_frames, self._pending_obs, self._pending_ck = [], [], None
        self.f = None
        self.lock.release()

    def frame(self, step, time, theta):
        self._step = step
        self._pending_frames.append((step, time, np.array(theta, dtype=self.storage_dtype)))
        self._pending_bytes += theta.nbytes
        if self._pending_bytes > MAX_PENDING_BYTES:
            self._reserve(len(self._pending_frames), 0, False)
            self._guard(self._write_frames)

    def _write_frames(self):
        rows = self._pending_frames
        if not rows:
            return
        step_ds, time_ds, value_ds = self._pos
        k = step_ds.shape[0]
        n = k + len(rows)
        # values first, then times, then steps: a reader that sizes by `step` never
        # sees a frame whose data is not written yet
        value_ds.resize(n, axis=0)
        value_ds[k:n] = np.stack([r[2] for r in rows])
        time_ds.resize(n, axis=0)
        time_ds[k:n] = [r[1] for r in rows]
        step_ds.resize(n, axis=0)
        step_ds[k:n] = [r[0] for r in rows]
        self._pending_frames = []
        self._pending_bytes = 0

    def observables(self, step, time, values):
        self._step = step
        self._pending_obs.append((step, time, values))

    def _write_obs(self):
        rows = self._pending_obs
        if not rows:
            return
        steps = np.array([r[0] for r in rows], dtype=np.int64)
        times = np.array([r[1] for r in rows], dtype=np.float64)
        for name, (step_ds, time_ds, value_ds) in self._obs.items():
            vals = np.array([r[2].get(name, np.nan) for r in rows], dtype=np.float64)
            k = step_ds.shape[0]
            n = k + len(rows)
            for ds, arr in ((value_ds, vals), (time_ds, times), (step_ds, steps)):
                ds.resize(n, axis=0)
                ds[k:n] = arr
        self._pending_obs = []

    def checkpoint(self, state):
        self._pending_ck = dict(state)
        if _time.perf_counter() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self):
        """Write buffered records, then the pending checkpoint, and flush the file."""
        if self.f is None:
            return
        self._reserve(len(self._pending_frames), len(self._pending_obs),
                      self._pending_ck is not None)
        self._guard(self._flush)

    def _flush(self):
        self._write_frames()
        self._write_obs()
        self.f.flush()
        if self._pending_ck is not None:
            state = self._pending_ck
            self._pending_ck = None
            theta = state.pop("theta")
            self._commit(self.f, theta, **state)
        self._last_flush = _time.perf_counter()

    def end(self, status, message):
        if self.f is None:
            return
        self._reserve(len(self._pending_frames), len(self._pending_obs), True)
        self._guard(self._end, status, message)

    def _end(self, status, message):
        self._flush()
        self._commit(self.f, status=status, message=message)
        self.f.close()
        self.f = None
        self.lock.release()

    def close(self):
        """Flush what is buffered, close and release the lock (the run stays resumable).

        After a failed write this only lets go (the failure was raised already).
        """
        if self.failed is not None:
            return
        if self.f is not None:
            self.flush()
            self.f.close()
            self.f = None
        self.lock.release()


def write_whole(path, fill, *, need, what, kept, copy=False):
    """Write the HDF5 file ``path`` whole or not at all.

    A new file (or, with ``copy``, a copy of ``path``) is opened under a temporary name,
    ``fill(f, check)`` writes into it (calling ``check()`` after each write, which raises
    a write failure that h5py reported only from a destructor), and the file is then
    renamed over ``path``. The room ``need`` is checked first; a write that fails anyway
    removes the temporary file, leaves ``path`` as it was, and keeps HDF5's handles of the
    failed file alive (releasing them crashes the process; the command line exits without
    HDF5's shutdown, see :class:`StoreWriteError`).

    Parameters
    ----------
    path : str
        The file to write.
    fill : callable
        ``fill(f, check)`` with ``f`` an open ``h5py.File``.
    need : int
        Bytes the temporary file will need (checked against :func:`space_left`).
    what : str
        What is written, for messages ("annotating 'run.h5'").
    kept : str
        What stays as it was when the write fails ("the file is unchanged").
    copy : bool
        Start from a copy of ``path`` (opened "r+") instead of an empty file.

    Raises
    ------
    StoreWriteError
        No room, or a write failed; ``path`` is as it was.
    """
    import shutil

    import h5py

    tmp = path + ".tmp"
    free = space_left(tmp)
    if free < need:
        raise StoreWriteError(f"no space left for {what} ({free / 1e6:.3g} MB free or "
                              f"allowed, {need / 1e6:.3g} MB needed); {kept}")
    f = None
    try:
        if copy:
            shutil.copyfile(path, tmp)
            shutil.copymode(path, tmp)
        # h5py prints the failures of handles it drops internally (a traceback per
        # handle) straight to sys.stderr; they are held back here, and shown only if
        # the write succeeds after all (the failure itself is reported once)
        held_back = io.StringIO()
        with _DestructorFailures() as failed, contextlib.redirect_stderr(held_back):
            f = h5py.File(tmp, "r+" if copy else "w", libver="latest", locking=False)
            fill(f, failed.check)
            failed.check()
            f.close()
            failed.check()
        f = None
        sys.stderr.write(held_back.getvalue())
        os.replace(tmp, path)
    except BaseException as exc:
        held = f is not None and isinstance(exc, (OSError, RuntimeError))
        if held:  # HDF5 cannot release a file it failed to write: keep its handles
            _UNRELEASABLE.append((f, exc))  # exc: the handles in its frames
            _silence_h5py_destructors()
        elif f is not None:
            _close_quietly(f)
        if os.path.exists(tmp):
            os.remove(tmp)
        if not isinstance(exc, (OSError, RuntimeError)) or isinstance(exc, StoreWriteError):
            raise
        failed = StoreWriteError(f"{what} failed: {_reason(exc)}; {kept}")
        failed.clean = not held
        raise failed from None


def _close_quietly(f):
    # after a failed write HDF5 cannot flush the file: close it and drop the errors (the
    # failure is reported once, by StoreWriteError); h5py's handles then fail to
    # release in their destructors, whose messages are silenced too
    if f is None:
        return
    import gc

    _silence_h5py_destructors()
    try:
        f.close()
    except Exception:  # noqa: BLE001 - the write failure was reported already
        pass
    gc.collect()


#: h5py handles of files whose writes failed (see H5Writer._abandon)
_UNRELEASABLE = []


def _copy_upto(src, dst, upto_step):
    # the H5MD element src (step, time, value) up to upto_step, into dst
    k = int(np.searchsorted(src["step"][:], upto_step, side="right"))
    k = min(k, src["time"].shape[0], src["value"].shape[0])
    for key in ("step", "time", "value"):
        dst[key].resize(k, axis=0)
        if k:
            dst[key][:k] = src[key][:k]


class _DestructorFailures:
    """Collects the HDF5 write failures that h5py reports only from destructors (as
    "unraisable" exceptions) while the block runs; :meth:`check` raises the first as an
    OSError."""

    def __enter__(self):
        import sys

        self.errors = []
        self._previous = sys.unraisablehook

        def hook(unraisable):
            if "h5py._objects.ObjectID" in repr(unraisable.object):
                self.errors.append(unraisable.exc_value)
            else:
                self._previous(unraisable)

        sys.unraisablehook = hook
        return self

    def check(self):
        if self.errors:
            raise OSError(str(self.errors[0]))

    def __exit__(self, kind, value, tb):
        import sys

        sys.unraisablehook = self._previous
        if self.errors or (kind is not None and issubclass(kind, (OSError, RuntimeError))):
            _silence_h5py_destructors()  # the handles that fail to release from now on
        return False


def _silence_h5py_destructors():
    # after a failed write, h5py's handles cannot release the file in their destructors
    # and would each print a traceback; the failure is reported once, by StoreWriteError
    import sys

    if getattr(sys.unraisablehook, "_particles", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable):
        if "h5py._objects.ObjectID" not in repr(unraisable.object):
            previous(unraisable)

    hook._particles = True
    sys.unraisablehook = hook
