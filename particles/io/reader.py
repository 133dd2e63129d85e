"""Reading a run file: a lazy view that works while another process writes it."""
from __future__ import annotations

import json
import os

from .verify import NotARunError, check_all, check_size, check_structure, open_run


class Run:
    """Lazy, read-only view of a run file (works while another process writes it).

    Parameters
    ----------
    path : str or path-like
    allow_truncated : bool
        Accept a file shorter than its HDF5 superblock records (a run whose last write
        failed); everything it reads is still checked. For salvaging only.
    records : bool
        Check the records and the checkpoint on opening (False: the header only, for
        restarting a run whose records a kill damaged).

    Attributes
    ----------
    config : particles.config.Config
    m, d : int
    teacher : ndarray, shape (m0, d + 2) or None

    Notes
    -----
    Every accessor first refreshes the datasets it reads, so a file that is still
    growing is seen up to its last flushed record; a frame is read only when asked
    for, so memory stays bounded whatever the run length.
    """

    def __init__(self, path, allow_truncated=False, records=True):
        from ..config.io import from_stored

        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise NotARunError(f"{self.path!r} is a directory, not a run file")
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"run file {self.path!r} does not exist")
        if not allow_truncated:
            check_size(self.path)
        try:
            self.f = open_run(self.path)
        except OSError as exc:
            raise NotARunError(f"{self.path!r} cannot be opened as HDF5 ({exc})") from None
        try:
            try:
                head = check_structure(self.f, self.path, records)
            except NotARunError:
                raise
            except (KeyError, OSError, RuntimeError, ValueError, TypeError) as exc:
                # HDF5 reports a failed metadata checksum as a missing object
                raise NotARunError(f"{self.path!r} is damaged: "
                                   f"{str(exc).splitlines()[0][:160]}") from None
            try:
                self.config = from_stored(head["config"])
            except (ValueError, TypeError) as exc:
                raise NotARunError(f"{self.path!r} holds an invalid config: {exc}") from None
        except BaseException:
            self.f.close()
            raise
        if (self.config.network.m, self.config.problem.d) != (head["m"], head["d"]):
            self.f.close()
            raise NotARunError(f"{self.path!r} is inconsistent: its config says m = "
                               f"{self.config.network.m}, d = {self.config.problem.d}, its "
                               f"arrays m = {head['m']}, d = {head['d']}")
        self.config_dict = head["config"]
        self.m, self.d = head["m"], head["d"]
        self.dt, self.n_steps = head["dt"], head["n_steps"]
        self.versions = head["versions"]
        self._pos = self.f["particles/neurons/position"]
        self.reads = 0  # number of frames read so far (to check streaming)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def refresh(self):
        """See records flushed by a writer since the last call."""
        for name in ("step", "time", "value"):
            self._pos[name].refresh()
        for name in ("active", "state", "theta"):
            self.f["parameters/checkpoint"][name].refresh()

    def __len__(self):
        self.refresh()
        return min(self._pos["step"].shape[0], self._pos["time"].shape[0],
                   self._pos["value"].shape[0])

    @property
    def steps(self):
        """Steps of the stored frames, shape (T,)."""
        n = len(self)
        return self._pos["step"][:n]

    @property
    def times(self):
        """Mean-field times of the stored frames, shape (T,)."""
        n = len(self)
        return self._pos["time"][:n]

    def frame(self, k):
        """Particles of frame ``k`` (read from the file on each call).

        Parameters
        ----------
        k : int
            Frame index; negative counts from the end.

        Returns
        -------
        ndarray, shape (m, d + 2)
        """
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"frame {k} out of range; the file has {n} frames")
        self.reads += 1
        return self._pos["value"][k]

    def c(self, k):
        """Output weights of frame ``k``.

        Parameters
        ----------
        k : int
            As for :meth:`frame`.

        Returns
        -------
        ndarray, shape (m,)
        """
        return self.frame(k)[:, 0]

    def a(self, k):
        """Input weights of frame ``k``.

        Parameters
        ----------
        k : int
            As for :meth:`frame`.

        Returns
        -------
        ndarray, shape (m, d)
        """
        return self.frame(k)[:, 1:self.d + 1]

    def b(self, k):
        """Biases of frame ``k``.

        Parameters
        ----------
        k : int
            As for :meth:`frame`.

        Returns
        -------
        ndarray, shape (m,)
        """
        return self.frame(k)[:, self.d + 1]

    def iter_frames(self, indices=None):
        """Yield (step, time, theta) one frame at a time (memory: one frame).

        Parameters
        ----------
        indices : iterable of int, optional
            The frames (default: every frame, in order).

        Yields
        ------
        step : int
        time : float
        theta : ndarray, shape (m, d + 2)
        """
        n = len(self)
        idx = range(n) if indices is None else indices
        steps, times = self._pos["step"][:n], self._pos["time"][:n]
        for k in idx:
            yield int(steps[k]), float(times[k]), self.frame(k)

    @property
    def teacher(self):
        """Teacher neurons (m0, d + 2) or None."""
        if "particles/teacher/position" in self.f:
            return self.f["particles/teacher/position"][...]
        return None

    @property
    def theta0(self):
        """Initial particles, full precision."""
        return self.f["parameters/theta0"][...]

    @property
    def lazy_criterion(self):
        """kappa(w0) and its parts as recorded when the run started (a dict, see
        :func:`particles.lazy.criterion`), or None (no probe inputs, or a file written
        before version 0.3)."""
        raw = self.f["parameters"].attrs.get("lazy_criterion")
        return None if raw is None else json.loads(raw)

    @property
    def observable_names(self):
        return list(self.f["observables"])

    def observable(self, name):
        """The records of one observable.

        Parameters
        ----------
        name : str
            One of :attr:`observable_names` (a KeyError lists them otherwise).

        Returns
        -------
        steps, times, values : ndarray, shape (K,)
        """
        if name not in self.f["observables"]:
            raise KeyError(f"observable {name!r} is not in {self.path!r}; it has "
                           f"{', '.join(self.observable_names)}")
        g = self.f["observables"][name]
        for k in ("step", "time", "value"):
            g[k].refresh()
        n = min(g[k].shape[0] for k in ("step", "time", "value"))
        return g["step"][:n], g["time"][:n], g["value"][:n]

    def _slot(self):
        # (slot, state) of the latest complete checkpoint; the other slot if the
        # active one cannot be read (it never should: slots are flushed before use)
        self.refresh()
        ck = self.f["parameters/checkpoint"]
        active = int(ck["active"][()])
        for slot in (active, 1 - active):
            raw = ck["state"][slot]
            try:
                return slot, (json.loads(raw.decode()) if raw else {})
            except ValueError:
                continue
        return active, {}

    @property
    def state(self):
        """The latest checkpoint's JSON state (step, time, status, message, ...)."""
        return self._slot()[1]

    def checkpoint(self):
        """Latest checkpoint: the state dict with ``theta`` (full precision) added."""
        slot, st = self._slot()
        st["theta"] = self.f["parameters/checkpoint/theta"][slot]
        return st

    @property
    def status(self):
        """"running" (or killed while running), "complete", "stopped", "diverged", ..."""
        return self.state.get("status", "running")

    @property
    def complete(self):
        return self.status == "complete"

    def data(self):
        """The stored data set (dict of arrays) of a data-set problem, or None."""
        if "parameters/data" not in self.f:
            return None
        return {k: v[...] for k, v in self.f["parameters/data"].items()}

    def check(self, spare=True):
        """Read every record and the checkpoint once, verifying their checksums.

        Parameters
        ----------
        spare : bool
            Also read the spare checkpoint slot (where the next checkpoint goes;
            ``particles info --check`` reads it, a resume that rewrites the file does
            not need it).

        Returns
        -------
        dict
            Counts: ``frames``, ``observables``, ``datasets``, ``checksummed``.

        Raises
        ------
        NotARunError
            When anything cannot be read back intact.
        """
        counts = check_all(self.f, self.path, spare=spare)
        self.check_consistency()
        return counts

    def check_consistency(self):
        """The stored config, problem and arrays describe one run (else NotARunError)."""
        import numpy as np

        from ..model.problems import check_against

        try:
            check_against(self.config, self.problem())
        except (ValueError, TypeError, KeyError) as exc:
            raise NotARunError(f"{self.path!r} is inconsistent: {exc}") from None
        dtype = self.f["parameters/theta0"].dtype
        if dtype != np.dtype(self.config.dtype):
            raise NotARunError(f"{self.path!r} is inconsistent: theta0 is {dtype} but the "
                               f"config says dtype={self.config.dtype!r}")

    def problem(self):
        """The problem that ran, rebuilt from the file (teacher array or data set).

        Files written before the problem was stored (version 0.1) rebuild it from the
        stored teacher and the config.
        """
        from ..model.problems import from_attrs

        par = self.f["parameters"]
        if "problem" in par.attrs:
            attrs = json.loads(par.attrs["problem"])
        else:
            pc, net = self.config.problem, self.config.network
            attrs = {"kind": pc.kind, "d": self.d, "inputs": pc.inputs, "loss": pc.loss,
                     "teacher_activation": pc.teacher_activation or net.activation,
                     "teacher_bias": pc.teacher_bias, "leak": net.leak, "origin": "config"}
        teacher, data = self.teacher, self.data()
        if attrs.get("kind") == "dataset" and (data is None or not {"X", "y"} <= set(data)):
            raise NotARunError(f"{self.path!r} is damaged: its data set (/parameters/data "
                               "X, y) is missing")
        if attrs.get("kind") not in ("dataset", "deconvolution") and teacher is None:
            raise NotARunError(f"{self.path!r} is damaged: its teacher "
                               "(/particles/teacher/position) is missing")
        try:
            return from_attrs(attrs, teacher, data)
        except (KeyError, ValueError, TypeError) as exc:
            raise NotARunError(f"{self.path!r} holds an invalid problem: {exc}") from None

    @property
    def problem_origin(self):
        """Where the run's problem came from: "config" or "python" (an API argument)."""
        raw = self.f["parameters"].attrs.get("problem")
        return json.loads(raw).get("origin", "config") if raw is not None else "config"


def load(path):
    """Open a run file lazily (see :class:`Run`).

    Parameters
    ----------
    path : str or os.PathLike
        A run file written by :func:`particles.run` (complete, running or interrupted).

    Returns
    -------
    Run
        Use it as a context manager (``with particles.load(path) as run: ...``) so the
        file is closed after.
    """
    return Run(path)
