"""One run = one HDF5 file in the H5MD 1.1 layout; streaming writer, lazy reader, resume.

Layout (DESIGN.md section 5)::

    /h5md                         version = [1, 1]; author/name; creator/{name, version}
    /particles/neurons/box        dimension = d + 2, boundary = "none" x (d + 2)
    /particles/neurons/position   step[T], time[T], value[T, m, d + 2]   (c | a | b)
    /particles/neurons/mass       [m] = 1/m
    /particles/teacher/position   [m0, d + 2]  (time-independent), when there is a teacher
    /observables/<name>           step[K], time[K], value[K]
    /parameters                   attrs: config (JSON), versions (JSON), seed, m, d, dtype
        theta0                    [m, d + 2] initial particles, full precision
        checkpoint/theta          [2, m, d + 2] two slots, full precision
        checkpoint/state          [2] JSON: step, time, status, message, rng_state, h, t_end
        checkpoint/active         which slot holds the latest complete checkpoint
        data/X, y, X_test, y_test the data set (data-set problems)

The writer creates the file under a temporary name, then renames it into place once
every dataset exists, and switches to HDF5's single-writer/multiple-reader mode: from
then on records are flushed in blocks, the file can be read by another process while
it grows, and a killed run (SIGKILL included) leaves a file holding every record
flushed before the kill. A checkpoint is committed only after the records it covers
are flushed: it is written into the inactive one of two slots, flushed, and then
made active with a one-number write, so a kill at any moment leaves a complete
checkpoint that no flushed record postdates. :func:`resume` continues such a file to the same final state
as an uninterrupted run.
"""
from __future__ import annotations

import getpass
import json
import os
import platform
import time as _time

import numpy as np

from . import __version__
from .recorder import Recorder

H5MD_VERSION = (1, 1)
STATE_BYTES = 8192
#: frames buffered between flushes are written early past this size
MAX_PENDING_BYTES = 64 * 2 ** 20


class NotARunError(ValueError):
    """The file exists but is not a particles run."""


def _versions():
    import h5py
    import numba
    import scipy

    return {"particles": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version, "python": platform.python_version()}


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


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
    """

    def __init__(self, path, storage_dtype="float64", compression="none", overwrite=False,
                 flush_seconds=0.5):
        self.path = os.fspath(path)
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
        self._source = None
        if os.path.exists(self.path) and not overwrite:
            raise FileExistsError(f"output file {self.path!r} exists; choose another path "
                                  "or allow overwriting")

    # ---------------------------------------------------------------- creation
    def _create(self, info, tmp):
        import h5py

        m, d = info["m"], info["d"]
        f = h5py.File(tmp, "w", libver="latest")
        h5 = f.create_group("h5md")
        h5.attrs["version"] = np.array(H5MD_VERSION, dtype=np.int32)
        h5.create_group("author").attrs["name"] = _user()
        cr = h5.create_group("creator")
        cr.attrs["name"] = "particles"
        cr.attrs["version"] = __version__
        neurons = f.create_group("particles/neurons")
        _box(neurons, d + 2)
        pos = neurons.create_group("position")
        pos.create_dataset("step", (0,), maxshape=(None,), dtype=np.int64, chunks=(256,))
        pos.create_dataset("time", (0,), maxshape=(None,), dtype=np.float64, chunks=(256,))
        pos.create_dataset("value", (0, m, d + 2), maxshape=(None, m, d + 2),
                           dtype=self.storage_dtype, chunks=(1, m, d + 2),
                           compression=self.compression)
        neurons.create_dataset("mass", data=np.full(m, 1.0 / m))
        teacher = info.get("teacher")
        if teacher is not None:
            tg = f.create_group("particles/teacher")
            _box(tg, d + 2)
            tg.create_dataset("position", data=np.asarray(teacher, dtype=np.float64))
        obs = f.create_group("observables")
        for name in info["observables"]:
            g = obs.create_group(name)
            g.create_dataset("step", (0,), maxshape=(None,), dtype=np.int64, chunks=(256,))
            g.create_dataset("time", (0,), maxshape=(None,), dtype=np.float64, chunks=(256,))
            g.create_dataset("value", (0,), maxshape=(None,), dtype=np.float64, chunks=(256,))
        par = f.create_group("parameters")
        par.attrs["config"] = json.dumps(info["config"], default=_json_default)
        par.attrs["versions"] = json.dumps(_versions())
        par.attrs["seed"] = info["seed"]
        par.attrs["m"] = m
        par.attrs["d"] = d
        par.attrs["dtype"] = info["dtype"]
        par.attrs["dt"] = info["dt"]
        par.attrs["n_steps"] = info["n_steps"]
        par.attrs["created"] = _time.strftime("%Y-%m-%dT%H:%M:%S%z")
        par.create_dataset("theta0", data=info["theta0"])
        ck = par.create_group("checkpoint")
        ck.create_dataset("theta", data=np.stack([info["theta0"], info["theta0"]]))
        ck.create_dataset("state", data=np.array([b"", b""], dtype=f"S{STATE_BYTES}"))
        ck.create_dataset("active", data=np.int64(0))
        problem = info.get("problem")
        if problem is not None and problem.X is not None:
            dg = par.create_group("data")
            for key in ("X", "y", "X_test", "y_test"):
                arr = getattr(problem, key)
                if arr is not None:
                    dg.create_dataset(key, data=arr, compression="gzip")
        return f

    def begin(self, info):
        if self.f is not None:  # already begun (resume opens the file itself)
            return
        tmp = self.path + ".tmp"
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        f = self._create(info, tmp)
        theta = None
        if self._source is not None:
            theta = self._copy_records(f, *self._source)
        self._state = dict(info.get("initial_state") or {})
        self._state.pop("theta", None)
        self._state.setdefault("status", "running")
        f.flush()
        self._commit(f, theta)
        f.close()
        os.replace(tmp, self.path)
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
    def frame(self, step, time, theta):
        self._pending_frames.append((step, time, np.array(theta, dtype=self.storage_dtype)))
        self._pending_bytes += theta.nbytes
        if self._pending_bytes > MAX_PENDING_BYTES:
            self._write_frames()

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
        self.flush()
        self._commit(self.f, status=status, message=message)
        self.f.close()
        self.f = None

    def close(self):
        """Flush what is buffered and close (the run stays resumable)."""
        if self.f is not None:
            self.flush()
            self.f.close()
            self.f = None


def _copy_upto(src, dst, upto_step):
    # the H5MD element src (step, time, value) up to upto_step, into dst
    k = int(np.searchsorted(src["step"][:], upto_step, side="right"))
    k = min(k, src["time"].shape[0], src["value"].shape[0])
    for key in ("step", "time", "value"):
        dst[key].resize(k, axis=0)
        if k:
            dst[key][:k] = src[key][:k]


def _box(group, dim):
    box = group.create_group("box")
    box.attrs["dimension"] = np.int32(dim)
    box.attrs["boundary"] = np.array([b"none"] * dim)


def _user():
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


class Run:
    """Lazy, read-only view of a run file (works while another process writes it).

    Parameters
    ----------
    path : str or path-like

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

    def __init__(self, path):
        import h5py

        from .config import from_dict

        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"run file {self.path!r} does not exist")
        try:
            self.f = h5py.File(self.path, "r", swmr=True, locking=False)
        except OSError as exc:
            raise NotARunError(f"{self.path!r} is not an HDF5 file ({exc})") from None
        try:
            creator = self.f["h5md/creator"].attrs["name"]
            par = self.f["parameters"]
            cfg = json.loads(par.attrs["config"])
        except (KeyError, ValueError):
            self.f.close()
            raise NotARunError(f"{self.path!r} is not a particles run (no H5MD creator "
                               "'particles' and /parameters/config)") from None
        if _as_str(creator) != "particles":
            self.f.close()
            raise NotARunError(f"{self.path!r} was written by {_as_str(creator)!r}, not particles")
        self.config_dict = cfg
        self.config = from_dict(cfg)
        self.m = int(par.attrs["m"])
        self.d = int(par.attrs["d"])
        self.dt = float(par.attrs["dt"])
        self.n_steps = int(par.attrs["n_steps"])
        self.versions = json.loads(par.attrs["versions"])
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
        """Particles of frame ``k`` (negative counts from the end), shape (m, d + 2)."""
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"frame {k} out of range; the file has {n} frames")
        self.reads += 1
        return self._pos["value"][k]

    def c(self, k):
        """Output weights of frame k, shape (m,)."""
        return self.frame(k)[:, 0]

    def a(self, k):
        """Input weights of frame k, shape (m, d)."""
        return self.frame(k)[:, 1:self.d + 1]

    def b(self, k):
        """Biases of frame k, shape (m,)."""
        return self.frame(k)[:, self.d + 1]

    def iter_frames(self, indices=None):
        """Yield (step, time, theta) one frame at a time."""
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
    def observable_names(self):
        return list(self.f["observables"])

    def observable(self, name):
        """(steps, times, values) of observable ``name``, each shape (K,)."""
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

    def summary(self):
        """A readable multi-line summary (the ``particles info`` output)."""
        st = self.state
        c = self.config
        lines = [
            f"file        {self.path} ({os.path.getsize(self.path) / 1e6:.2f} MB)",
            f"status      {st.get('status', 'running')}"
            + (f" - {st['message']}" if st.get("message") else ""),
            f"progress    step {st.get('step', 0)} of {self.n_steps}, "
            f"t = {st.get('time', 0.0):.6g} of {self.n_steps * self.dt:.6g}",
            f"frames      {len(self)} snapshots of m = {self.m} particles in d = {self.d}",
            f"problem     {c.problem.kind}, {c.problem.inputs} inputs, {c.problem.loss} loss"
            + (f", teacher m0 = {c.problem.m0}" if c.problem.kind == "teacher_student" else ""),
            f"network     {c.network.activation}, bias={c.network.bias}, alpha={c.network.alpha:g}",
            f"init        {c.init.scheme}, tau={c.init.tau:g}, symmetric={c.init.symmetric}",
            f"dynamics    {c.integrator.method}, dt={c.integrator.dt:g}, oracle={c.oracle.kind}, "
            f"seed={c.seed}, dtype={c.dtype}",
        ]
        if "risk" in self.observable_names:
            s, t, v = self.observable("risk")
            if len(v):
                lines.append(f"risk        {v[0]:.4g} at t = 0 -> {v[-1]:.4g} at t = {t[-1]:.6g}")
        if "test_risk" in self.observable_names:
            s, t, v = self.observable("test_risk")
            if len(v):
                lines.append(f"test risk   {v[-1]:.4g} at t = {t[-1]:.6g}")
        return "\n".join(lines)


def _as_str(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def load(path):
    """Open a run file lazily (see :class:`Run`)."""
    return Run(path)


def run(config=None, path=None, *, theta=None, problem=None, progress=None, overwrite=False,
        keep=False):
    """Run ``config`` and stream it into ``path`` (HDF5).

    Parameters
    ----------
    config : particles.Config, optional
    path : str, optional
        Output file (default: ``config.output.path``).
    theta, problem : optional
        As for :func:`particles.simulate`.
    progress : callable, optional
    overwrite : bool
    keep : bool
        Also keep the frames in memory in the returned Result (off by default:
        memory stays bounded whatever the run length).

    Returns
    -------
    Result
    """
    from .config import Config
    from .simulation import Simulation

    config = Config() if config is None else config
    path = path or config.output.path
    if not path:
        raise ValueError("path is required (or set output.path in the config)")
    sim = Simulation(config, theta=theta, problem=problem)
    writer = H5Writer(path, config.output.storage_dtype, config.output.compression, overwrite,
                      config.output.flush_seconds)
    try:
        return sim.run(recorder=writer, progress=progress, keep=keep)
    finally:
        writer.close()


def resume(path, *, t_end=None, progress=None, keep=False, interrupted=None):
    """Continue the run stored in ``path`` to its end (or to ``t_end``).

    The records after the last checkpoint are dropped, the file is rewritten with
    the records up to it (under a temporary name, then renamed into place), and the
    run continues from the checkpoint's full-precision state, random generator state
    and step size, so the final particles equal those of an uninterrupted run bit for
    bit.

    Returns
    -------
    Result or None
        None when the run was already complete (nothing is done).
    """
    from .problems import dataset
    from .simulation import Simulation

    path = os.fspath(path)
    with Run(path) as old:
        ck = old.checkpoint()
        status = ck.get("status", "running")
        old_t_end = ck.get("t_end")
        target = t_end if t_end is not None else old_t_end
        n_target = old.n_steps if target is None else max(1, int(round(target / old.dt)))
        if status in ("complete", "stopped", "diverged") and n_target <= ck.get("step", 0):
            return None
        if status == "diverged":
            raise ValueError(f"{path!r} diverged ({ck.get('message', '')}); resuming it "
                             "would diverge again: start a new run with a smaller dt")
        config = old.config
        data = old.data()
        problem = None
        if data is not None:
            problem = dataset(data["X"], data["y"], data.get("X_test"), data.get("y_test"),
                              loss=config.problem.loss)
        sim = Simulation(config, theta=old.theta0 if config.init.scheme == "array" else None,
                         problem=problem)
        if not np.array_equal(sim.theta0, old.theta0):
            sim.theta0 = np.ascontiguousarray(old.theta0, dtype=sim.dtype)
        tmp_writer = H5Writer(path, config.output.storage_dtype, config.output.compression,
                              overwrite=True, flush_seconds=config.output.flush_seconds)
        tmp_writer._source = (old.f, int(ck["step"]), ck["theta"])
        state = dict(ck)
        state["status"] = "running"
        state.pop("message", None)
        if target is not None:
            state["t_end"] = float(target)
        sim_info = sim.info()
        sim_info["initial_state"] = state
        tmp_writer.begin(sim_info)
    try:
        return sim.run(recorder=tmp_writer, progress=progress, resume=ck, t_end=target,
                       keep=keep, interrupted=interrupted)
    finally:
        tmp_writer.close()
