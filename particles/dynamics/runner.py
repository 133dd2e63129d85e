"""Runs that write files: :func:`run` streams a simulation into a run file,
:func:`resume` continues one from its last checkpoint, rebuilding exactly what ran."""
from __future__ import annotations

import math
import os

from ..io import H5Writer, Run
from ..io.lock import WriterLock
from .resources import check_steps


def _writer(config, path, overwrite, resume_from=None, lock=None):
    out = config.output
    return H5Writer(path, out.storage_dtype, out.compression, overwrite, out.flush_seconds,
                    resume_from=resume_from, lock=lock)


def run(config=None, path=None, *, theta=None, problem=None, progress=None, overwrite=False,
        keep=False, interrupted=None, simulation=None):
    """Run ``config`` and stream it into ``path`` (HDF5).

    Parameters
    ----------
    config : particles.Config, optional
    path : str, optional
        Output file (default: ``config.output.path``); missing folders are created.
    theta, problem : optional
        As for :func:`particles.simulate`; the file stores them, so :func:`resume`
        continues with them.
    progress : callable, optional
    overwrite : bool
    keep : bool
        Also keep the frames in memory in the returned Result (off by default:
        memory stays bounded whatever the run length).
    interrupted : callable, optional
        Polled between compiled chunks (see :meth:`particles.Simulation.run`).
    simulation : particles.Simulation, optional
        An already configured simulation (then ``config``, ``theta`` and ``problem``
        are not used).

    Returns
    -------
    Result
    """
    from ..config import Config
    from .simulation import Simulation

    if simulation is None:
        simulation = Simulation(Config() if config is None else config, theta=theta,
                                problem=problem)
    sim = simulation
    path = path or sim.config.output.path
    if not path:
        raise ValueError("path is required (or set output.path in the config)")
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(parent):
        if os.path.exists(parent):
            raise ValueError(f"path={os.fspath(path)!r}: {parent!r} is not a directory")
        os.makedirs(parent, exist_ok=True)  # a new run's folder, as the command line does
    writer = _writer(sim.config, path, overwrite)
    try:
        return sim.run(recorder=writer, progress=progress, keep=keep, interrupted=interrupted)
    finally:
        writer.close()


def resume(path, *, t_end=None, progress=None, keep=False, interrupted=None, salvage=False,
           output=None):
    """Continue the run stored in ``path`` to its end (or to ``t_end``).

    With ``salvage``, a file whose end was cut off (a write that failed, a copy that
    stopped) is accepted when everything up to its last checkpoint reads back intact
    (checksums verified); the run continues into ``output`` (default
    ``<name>-salvaged.h5``), and ``path`` is left as it is.

    The problem (teacher array or data set), the initial particles and the config are
    read from the file, never rebuilt from a seed. The records after the last
    checkpoint are dropped, the file is rewritten with the records up to it (under a
    temporary name, then renamed into place), and the run continues from the
    checkpoint's full-precision state, random stream states and solver state, so the
    final particles equal those of an uninterrupted run bit for bit.

    Parameters
    ----------
    path : str or os.PathLike
        The run file.
    t_end : float, optional
        A new end time (> 0; the file's configured end by default). Longer than the
        configured end: the run is extended and the file records the new end.
    progress : callable, optional
        As for :func:`run`.
    keep : bool
        Also keep the frames in memory in the returned Result.
    interrupted : callable, optional
        Polled between compiled chunks (see :meth:`particles.Simulation.run`).
    salvage : bool
        Accept a file cut off after its last checkpoint (see above).
    output : str or os.PathLike, optional
        Continue into another file (must not exist); default: ``path`` itself, or
        ``<name>-salvaged.h5`` with ``salvage``.

    Returns
    -------
    Result or None
        None when the run was already complete (nothing is done).
    """
    from .simulation import Simulation

    path = os.fspath(path)
    if salvage and output is None:
        output = os.path.splitext(path)[0] + "-salvaged.h5"
    output = path if output is None else os.fspath(output)
    if output != path and os.path.exists(output):
        raise FileExistsError(f"output file {output!r} exists; choose another path")
    if not os.path.exists(path):
        raise FileNotFoundError(f"run file {path!r} does not exist")
    if t_end is not None and not (isinstance(t_end, (int, float)) and math.isfinite(t_end)
                                  and t_end > 0):
        raise ValueError(f"t_end={t_end!r} is invalid; allowed: a finite number > 0")
    if output != path:
        check_new_file(output)
    lock = WriterLock(path).acquire()  # no other process may write it meanwhile
    try:
        out_lock = WriterLock(output).acquire() if output != path else lock
    except BaseException:
        lock.release()
        raise
    try:
        restart = _killed_and_damaged(path, salvage)
    except BaseException:
        lock.release()
        out_lock.release()
        raise
    if restart is not None:
        return _restart(restart, path, output, lock, out_lock, progress, keep, interrupted,
                        t_end)
    try:
        with Run(path, allow_truncated=salvage) as old:
            old.check(spare=False)  # every record it will copy reads back intact
            ck = old.checkpoint()
            status = ck.get("status", "running")
            target = t_end if t_end is not None else ck.get("t_end")
            n_target = old.n_steps if target is None else max(1, int(round(target / old.dt)))
            if status in ("complete", "stopped", "diverged") and n_target <= ck.get("step", 0):
                lock.release()
                out_lock.release()
                return None
            if status == "diverged":
                raise ValueError(f"{path!r} diverged ({ck.get('message', '')}); resuming it "
                                 "would diverge again: start a new run with a smaller dt")
            sim = Simulation.from_run(old)
            if target is not None:
                check_steps(target / old.dt, f"t_end = {target:g} / integrator.dt")
            sim.schedule(n_target)  # fails here, before the file is touched
            state = {k: v for k, v in ck.items() if k not in ("theta", "message")}
            state["status"] = "running"
            if target is not None:
                state["t_end"] = float(target)
            info = sim.info(sim.new_state())
            info["initial_state"] = state
            step = int(ck["step"])
            # records at the checkpoint's step that never reached the disk (a run
            # stopped before its first flush, or a write that failed half way through
            # the observables): the records before that step are copied, and the
            # resumed run writes all of the step's records again
            frame_missing = step not in set(old.steps.tolist())
            obs_missing = any(step not in set(old.observable(n)[0].tolist())
                              for n in old.observable_names)
            missing = frame_missing or obs_missing
            upto = step - 1 if missing else step
            writer = _writer(sim.config, output, True, lock=out_lock,
                             resume_from=(old.f, upto, ck["theta"]))
            writer.begin(info)
        if output != path:
            lock.release()  # the source was only read
    except BaseException:
        lock.release()
        out_lock.release()
        raise
    try:
        return sim.run(recorder=writer, progress=progress, resume=ck, t_end=target,
                       keep=keep, interrupted=interrupted, rerecord=missing)
    finally:
        writer.close()


def check_new_file(path):
    """Raise before any work when ``path`` cannot be created: its directory is missing or
    not writable, or the path is a directory."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"output {path!r} is a directory; allowed: a file path")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output directory {directory!r} of {path!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"output directory {directory!r} of {path!r} is not writable")


def _killed_and_damaged(path, salvage):
    """A Simulation to restart from t = 0 when ``path`` is a killed run ("running", no
    writer) whose records the kill damaged but whose header (config, problem, theta0)
    is intact; None when the file verifies (or is damaged otherwise: then opening it
    normally raises the error to report).

    A SIGKILL can cut a multi-page HDF5 metadata write; the run's records are then lost,
    but the run is deterministic, so running it again from its stored initial state
    rebuilds every record and reaches the same final state bit for bit.
    """
    from ..io.verify import NotARunError
    from .simulation import Simulation

    try:
        with Run(path, allow_truncated=salvage):
            return None
    except NotARunError:
        pass
    try:
        with Run(path, allow_truncated=salvage, records=False) as run:
            try:
                state = run.state
            except Exception:  # noqa: BLE001 - unreadable: not restarted, reported below
                return None
            if not isinstance(state, dict) or state.get("status", "running") != "running":
                return None
            return Simulation.from_run(run, restart=True)
    except (NotARunError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _restart(sim, path, output, lock, out_lock, progress, keep, interrupted, t_end):
    import warnings

    if output != path:
        lock.release()
    warnings.warn(f"{path!r}: the kill damaged its records; running it again from t = 0 "
                  "(the run is deterministic: same records, same final state)",
                  RuntimeWarning, stacklevel=3)
    try:
        writer = _writer(sim.config, output, True, lock=out_lock)
    except BaseException:
        out_lock.release()
        raise
    try:
        return sim.run(recorder=writer, progress=progress, keep=keep, t_end=t_end,
                       interrupted=interrupted)
    finally:
        writer.close()
