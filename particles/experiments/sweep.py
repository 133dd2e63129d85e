"""Sweeps: many runs of one base configuration over parameter axes and trials, on this
machine's cores or a Dask cluster, resumable, with one table of results.

A sweep is a base :class:`~particles.Config` plus

* ``grid``: dotted config keys -> lists of values (their cartesian product);
* ``zip``: dotted keys -> lists of one common length (walked together, then crossed
  with the grid);
* ``trials``: independent repetitions, each with its own seeds;
* ``seeds``: for each of ``problem`` (the teacher and the data: ``problem.seed``),
  ``init`` (``init.seed``) and ``run`` (the run ``seed``: samples and SGD noise), one of
  "trial" (one seed per trial, shared by every point: e.g. one teacher and one base
  initialisation rescaled by every tau), "point" (a seed per point and trial) or
  "fixed" (the base config's).

In TOML, the base config's sections plus a ``[sweep]`` table::

    [network]
    m = 50
    [sweep]
    name = "tau"
    trials = 3
    grid = { "init.tau" = [0.1, 0.3, 1.0] }
    [sweep.seeds]
    init = "trial"

Every run writes its own HDF5 file ``<name>-pPPP-tTT.h5`` in the output directory,
which also gets ``sweep.json`` (the spec), ``index.h5`` (external links to the runs
and the table), ``summary.csv`` and ``summary.json``. Run again, a sweep skips the
complete runs, resumes the interrupted ones and retries the failed ones; results do
not depend on the executor or its number of workers.
"""
from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .._checks import ConfigError
from ..config import Config
from ..config.io import assign, from_dict, read_toml, to_dict
from ..io.atomic import replaced
from ..io.writer import write_whole
from .executors import DaskExecutor, PoolExecutor, SerialExecutor, make_executor
from .table import SweepTable, UnknownColumn

SEED_CHOICES = ("trial", "point", "fixed")
#: the most runs one sweep may hold (each writes a file; checked from the numbers,
#: before any run's config is built)
MAX_RUNS = 100_000
#: room for index.h5's structure besides its table (its groups and links)
INDEX_MARGIN = 2 ** 16
SEED_KEYS = ("problem", "init", "run")


def _check_axes(name, axes):
    if not isinstance(axes, dict):
        raise ConfigError(f"sweep.{name} must be a table of key = [values], got {axes!r}")
    out = {}
    for key, values in axes.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"sweep.{name} has the key {key!r}; allowed: dotted config keys "
                              "such as 'init.tau'")
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ConfigError(f"sweep.{name}.{key}={values!r} is invalid; allowed: a "
                              "non-empty list of values")
        out[key] = list(values)
    return out


@dataclass(frozen=True)
class Sweep:
    """A base configuration, axes over its keys, and trials.

    Attributes
    ----------
    base : Config
    grid, zip : dict of str -> list
        Dotted keys ("init.tau", "network.m", "seed") and their values.
    trials : int
    seed : int
        Root of every derived seed.
    seeds : dict
        "problem", "init", "run" -> "trial", "point" or "fixed".
    name : str
        Prefix of the run files.
    post : str or None
        "module:function" called in the worker with (run path, config) after each run;
        the dict it returns adds columns to the table (e.g. a polished risk).
    """

    base: Config = field(default_factory=Config)
    grid: dict = field(default_factory=dict)
    zip: dict = field(default_factory=dict)
    trials: int = 1
    seed: int = 0
    seeds: dict = field(default_factory=lambda: {"problem": "trial", "init": "trial",
                                                 "run": "trial"})
    name: str = "run"
    post: str | None = None

    def __post_init__(self):
        if not isinstance(self.base, Config):
            raise TypeError(f"base must be a particles.Config, got {type(self.base).__name__}")
        object.__setattr__(self, "grid", _check_axes("grid", self.grid))
        object.__setattr__(self, "zip", _check_axes("zip", self.zip))
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            raise ConfigError(f"sweep.zip lists have lengths {sorted(lengths)}; allowed: one "
                              "common length")
        both = set(self.grid) & set(self.zip)
        if both:
            raise ConfigError(f"sweep key {sorted(both)[0]!r} is in both grid and zip; allowed: "
                              "one of them")
        for key in list(self.grid) + list(self.zip):
            if key in ("seed", "problem.seed", "init.seed"):
                raise ConfigError(f"sweep key {key!r} is set by sweep.seeds; allowed: other "
                                  "keys (use sweep.seeds and sweep.seed for seeds)")
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise ConfigError(f"sweep.trials={self.trials!r} is invalid; allowed: an integer "
                              ">= 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"sweep.seed={self.seed!r} is invalid; allowed: an integer >= 0")
        n_points = 1
        for values in self.grid.values():
            n_points *= len(values)
        n_points *= len(next(iter(self.zip.values()))) if self.zip else 1
        if n_points * self.trials > MAX_RUNS:
            key = "sweep.trials" if self.trials > MAX_RUNS or n_points <= MAX_RUNS // 10 \
                else "sweep.grid"
            raise ConfigError(f"{key} makes {n_points * self.trials:.3g} runs ({n_points} "
                              f"points x {self.trials} trials); allowed: at most {MAX_RUNS} "
                              "runs in one sweep")
        seeds = {"problem": "trial", "init": "trial", "run": "trial"}
        if not isinstance(self.seeds, dict):
            raise ConfigError(f"sweep.seeds must be a table, got {self.seeds!r}")
        for key, value in self.seeds.items():
            if key not in SEED_KEYS:
                raise ConfigError(f"sweep.seeds has the key {key!r}; allowed: "
                                  f"{', '.join(SEED_KEYS)}")
            if value not in SEED_CHOICES:
                raise ConfigError(f"sweep.seeds.{key}={value!r} is invalid; allowed: "
                                  f"{', '.join(SEED_CHOICES)}")
            seeds[key] = value
        object.__setattr__(self, "seeds", seeds)
        if not isinstance(self.name, str) or not self.name or any(
                c in self.name for c in "/\\:"):
            raise ConfigError(f"sweep.name={self.name!r} is invalid; allowed: a file-name "
                              "prefix without / \\ :")
        if self.post is not None and (not isinstance(self.post, str) or ":" not in self.post):
            raise ConfigError(f"sweep.post={self.post!r} is invalid; allowed: "
                              "'module:function'")

    @property
    def keys(self):
        """The swept keys, grid first."""
        return list(self.grid) + list(self.zip)

    def points(self):
        """The parameter points: a list of {key: value} dicts (zip crossed with grid)."""
        grid = [dict(zip(self.grid, vals)) for vals in itertools.product(*self.grid.values())]
        n_zip = len(next(iter(self.zip.values()))) if self.zip else 1
        zipped = [{k: v[i] for k, v in self.zip.items()} for i in range(n_zip)]
        return [{**g, **z} for g in grid for z in zipped]

    def _seed(self, kind, trial, point):
        choice = self.seeds[kind]
        if choice == "fixed":
            return None
        key = (trial,) if choice == "trial" else (trial, point)
        entropy = [self.seed, SEED_KEYS.index(kind)]
        return int(np.random.SeedSequence(entropy, spawn_key=key).generate_state(1)[0]
                   % (2 ** 31))

    def config(self, point, trial):
        """The config of one run (validated).

        Parameters
        ----------
        point : int
            Index into :meth:`points` (the grid's product, then the zipped values).
        trial : int
            Trial index, ``0 <= trial < trials`` (it picks the seeds, see ``seeds``).

        Returns
        -------
        particles.Config
        """
        return self._config(self.points()[point], point, trial)

    def _config(self, params, point, trial):
        data = to_dict(self.base)
        for key, value in params.items():
            assign(data, key, value, f"sweep key {key!r}")
        run, prob, init = (self._seed(k, trial, point) for k in ("run", "problem", "init"))
        if run is not None:
            data["seed"] = run
        if prob is not None:
            data.setdefault("problem", {})["seed"] = prob
        if init is not None:
            data.setdefault("init", {})["seed"] = init
        data.setdefault("output", {})["path"] = None
        data["output"]["animate"] = False
        try:
            return from_dict(data)
        except (ConfigError, ValueError, TypeError) as exc:
            raise ConfigError(f"sweep point {params}: {exc}") from None

    def configs(self):
        """Every run's config, trial-major (list)."""
        points = self.points()
        return [self._config(params, p, t) for t in range(self.trials)
                for p, params in enumerate(points)]

    def tasks(self, out_dir):
        """The runs as picklable dicts (what workers receive), trial-major; building them
        validates every run's config.

        Parameters
        ----------
        out_dir : str
            The sweep's directory (each task's ``path`` is in it).

        Returns
        -------
        list of dict
            ``{"point", "trial", "params", "post", "config", "path"}`` per run, the
            config as nested dicts.
        """
        points = self.points()
        return [{"point": p, "trial": t, "params": params, "post": self.post,
                 "config": to_dict(self._config(params, p, t)),
                 "path": os.path.join(out_dir, self.file_name(p, t))}
                for t in range(self.trials) for p, params in enumerate(points)]

    def file_name(self, point, trial):
        """File name of a run: ``<name>-pPPP-tTT.h5``.

        Parameters
        ----------
        point, trial : int
            As for :meth:`config`.

        Returns
        -------
        str
        """
        return f"{self.name}-p{point:03d}-t{trial:02d}.h5"

    def to_dict(self):
        """A JSON/TOML-friendly dict (the inverse of :func:`from_dict`)."""
        return {**to_dict(self.base), "sweep": {
            "name": self.name, "trials": self.trials, "seed": self.seed,
            "grid": self.grid, "zip": self.zip, "seeds": dict(self.seeds),
            **({"post": self.post} if self.post else {})}}


def sweep_from_dict(data):
    """A :class:`Sweep` from nested mappings: the base config's sections plus ``sweep``.

    Parameters
    ----------
    data : dict
        As read from a sweep TOML file: the sections of :func:`particles.from_dict` and a
        ``sweep`` table (``grid``, ``zip``, ``trials``, ``seed``, ``seeds``, ``name``,
        ``post``).

    Returns
    -------
    Sweep

    Raises
    ------
    particles.ConfigError
        A missing or unknown sweep key, a sweep with nothing to vary, or an invalid base
        configuration.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a sweep must be a table, got {type(data).__name__}")
    data = dict(data)
    spec = data.pop("sweep", None)
    if not isinstance(spec, dict):
        raise ConfigError("the [sweep] table is missing; allowed: a [sweep] table with grid "
                          "and/or zip, trials, seed, seeds, name")
    allowed = {"grid", "zip", "trials", "seed", "seeds", "name", "post"}
    unknown = set(spec) - allowed
    if unknown:
        raise ConfigError(f"unknown key sweep.{sorted(unknown)[0]}; allowed: "
                          f"{', '.join(sorted(allowed))}")
    if not spec.get("grid") and not spec.get("zip") and spec.get("trials", 1) == 1:
        raise ConfigError("the sweep has no axis and one trial; allowed: sweep.grid, "
                          "sweep.zip or sweep.trials > 1")
    return Sweep(base=from_dict(data), **spec)


def load_sweep(path):
    """Read a sweep TOML file.

    Parameters
    ----------
    path : str or os.PathLike
        A run configuration with a ``[sweep]`` table (docs/figures.md, "Sweeps").

    Returns
    -------
    Sweep
    """
    return sweep_from_dict(read_toml(path))


# ------------------------------------------------------------------ one run
def summarize_run(path):
    """Status and per-observable final and best (minimum) values of a run file.

    Parameters
    ----------
    path : str or os.PathLike
        A run file.

    Returns
    -------
    dict
        ``status``, ``message``, ``time`` and, per observable NAME, ``final.NAME`` (last
        recorded value) and ``best.NAME`` (smallest finite value); NaN when none.
    """
    from ..io import Run

    out = {}
    with Run(path) as run:
        ck = run.checkpoint()
        out["status"] = ck.get("status", "running")
        out["message"] = ck.get("message", "")
        out["time"] = float(ck.get("time", 0.0))
        for name in run.observable_names:
            _, _, v = run.observable(name)
            v = np.asarray(v, dtype=float)
            finite = v[np.isfinite(v)]
            out[f"final.{name}"] = float(v[-1]) if v.size else float("nan")
            out[f"best.{name}"] = float(finite.min()) if finite.size else float("nan")
    return out


def run_task(task):
    """Run (or resume, or skip) one sweep run; never raises for a failing run.

    Parameters
    ----------
    task : dict
        One entry of :meth:`Sweep.tasks`.

    Returns
    -------
    dict
        The task's point, trial, params and path, ``outcome`` ("ran", "resumed",
        "skipped", "failed"), ``seconds``, ``error`` and the run's summary
        (:func:`summarize_run`), plus the columns of ``post``.
    """
    from ..dynamics import runner
    from ..io import Run

    t0 = time.perf_counter()
    out = {k: task[k] for k in ("point", "trial", "params", "path")}
    path = task["path"]
    try:
        config = from_dict(task["config"])
        outcome = "ran"
        if os.path.exists(path):
            with Run(path) as run:
                status = run.checkpoint().get("status", "running")
                if to_dict(run.config) != to_dict(_as_stored(config).replace(
                        output=run.config.output, threads=run.config.threads)):
                    raise ConfigError(f"{path!r} holds another configuration; move it away "
                                      "or start the sweep in a new directory")
            if status in ("complete", "stopped", "diverged"):
                outcome = "skipped"
            else:
                runner.resume(path)
                outcome = "resumed"
        else:
            runner.run(config, path)
        out.update(summarize_run(path))
        if task.get("post"):
            out.update(resolve_post(task["post"])(path, config))
        out["outcome"] = outcome
        out["error"] = ""
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        out.update(outcome="failed", status="failed", error=f"{type(exc).__name__}: {exc}")
    out["seconds"] = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------ the sweep
def run_sweep(sweep, out_dir, *, workers=None, dask=None, progress=None, overwrite=False):
    """Run every point and trial of ``sweep`` into ``out_dir``.

    Parameters
    ----------
    sweep : Sweep
    out_dir : str
        Created if needed. When it holds a different sweep's ``sweep.json`` the call
        refuses (unless ``overwrite``: the spec is replaced, run files that hold another
        configuration are then reported as failed, never overwritten).
    workers : int, optional
        Processes (default: the cores this process may use; 1: serial, in this
        process). With a local pool every worker gets cores / workers threads.
    dask : str or dask.distributed.Client, optional
        "local" (a LocalCluster of ``workers`` processes), a scheduler address, or a
        client of the caller's (e.g. on a dask-jobqueue cluster; it is left open).
    progress : callable, optional
        ``progress(done, total, result)`` after every run; default: a bar on a terminal,
        one line per run otherwise (None output when ``progress=False``).
    overwrite : bool
        Replace another sweep's ``sweep.json`` in ``out_dir`` (see ``out_dir``).

    Returns
    -------
    SweepTable
    """
    from ..io.lock import WriterLock

    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a particles.Sweep (or particles.experiments.sweep."
                        f"load_sweep(path)), got {sweep!r} ({type(sweep).__name__})")
    out_dir = os.fspath(out_dir)
    tasks = sweep.tasks(out_dir)  # every run's config is valid before anything starts
    resolve_post(sweep.post)  # a bad post-processing function fails now, not at the end
    spec_path = os.path.join(out_dir, "sweep.json")
    spec = sweep.to_dict()
    if os.path.exists(spec_path) and not overwrite:
        with open(spec_path) as fh:
            old = json.load(fh)
        if old != json.loads(json.dumps(spec)):
            raise ConfigError(f"{out_dir!r} holds another sweep (sweep.json differs); "
                              "allowed: the same sweep (to resume it), a new directory, or "
                              "overwrite=True / --overwrite")
    executor = make_executor(workers, dask)  # an unreachable cluster fails before any file
    try:
        made = not os.path.isdir(out_dir)
        os.makedirs(out_dir, exist_ok=True)
        try:  # one sweep at a time in a directory (a second would fight over its runs)
            lock = WriterLock(os.path.join(out_dir, "sweep")).acquire()
        except BaseException:
            if made:
                os.rmdir(out_dir)
            raise
    except BaseException:
        executor.close()
        raise
    try:
        _write_json(spec_path, spec)
        return _execute(sweep, out_dir, tasks, executor, dask, progress)
    finally:
        lock.release()


def _execute(sweep, out_dir, tasks, executor, dask, progress):
    from .._numba.threads import available_cores

    threads = max(1, available_cores() // executor.workers) if dask is None else 1
    for task in tasks:
        task["config"]["threads"] = threads
    report = _reporter(progress, len(tasks), executor.describe())
    results = []
    stopped = False
    try:
        for res in executor.map_unordered(run_task, tasks):
            results.append(res)
            report(len(results), len(tasks), res)
    except KeyboardInterrupt:
        stopped = True
        executor.stop()
        raise
    finally:
        if hasattr(report, "close"):
            report.close()
        if not stopped:
            executor.close()
        write_index(sweep, out_dir, results)
    return load(out_dir)


def resolve_post(post):
    """The function that ``sweep.post`` (``"module:function"``) names.

    Parameters
    ----------
    post : str or None

    Returns
    -------
    callable or None
        None for None.

    Raises
    ------
    particles.ConfigError
        Naming the key when it cannot be imported or is not callable.
    """
    if post is None:
        return None
    import importlib

    module, func = post.split(":", 1)
    try:
        fn = getattr(importlib.import_module(module), func)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module's
        raise ConfigError(f"sweep.post={post!r} cannot be loaded ({type(exc).__name__}: "
                          f"{exc}); allowed: 'module:function' importable here and on the "
                          "workers") from None
    if not callable(fn):
        raise ConfigError(f"sweep.post={post!r} is not callable; allowed: a function "
                          "run_path -> dict")
    return fn


def _reporter(progress, total, what):
    if progress is False:
        return lambda done, total, res: None
    if callable(progress):
        return progress
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="run", desc=f"sweep ({what})", file=sys.stderr)

            def update(done, total, res):
                bar.update(1)
                bar.set_postfix_str(f"last: {os.path.basename(res['path'])} {res['outcome']}")
            update.close = bar.close
            return update
        except ImportError:
            pass

    def line(done, total, res):
        err = f" ({res['error']})" if res.get("error") else ""
        print(f"[{done}/{total}] {os.path.basename(res['path'])}: {res['outcome']}, "
              f"{res.get('status', '')}, {res['seconds']:.1f} s{err}", file=sys.stderr,
              flush=True)
    return line


def _as_stored(config):
    """``config`` as its run file stores it: resolved by the problem it builds (e.g. a
    deconvolution's drawn spikes and their number), so that the run file of an
    interrupted sweep is recognised as its own when the sweep is rerun."""
    from ..model import problems

    problem = problems.from_config(config.problem, config.network, config.seed)
    return problems.resolve_config(config, problem, False)


def _write_json(path, data):
    from ..io.annotate import _plain

    with replaced(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, default=_plain)


def write_index(sweep, out_dir, results=()):
    """Write ``index.h5``, ``summary.csv`` and ``summary.json`` for every run of the
    sweep that has a file (``results`` of this invocation first; the others are
    summarised from their files). Each file appears whole or not at all.

    Parameters
    ----------
    sweep : Sweep
    out_dir : str
        The sweep's directory.
    results : sequence of dict, optional
        What :func:`run_task` returned for the runs of this invocation.

    Returns
    -------
    list of dict
        The table's rows (one per point and trial).
    """
    import h5py

    by_key = {(r["point"], r["trial"]): r for r in results}
    rows = []
    points = sweep.points()
    for t in range(sweep.trials):
        for p in range(len(points)):
            path = os.path.join(out_dir, sweep.file_name(p, t))
            row = by_key.get((p, t))
            if row is None:
                row = {"point": p, "trial": t, "params": points[p], "path": path,
                       "outcome": "missing", "error": "", "seconds": 0.0}
                if os.path.exists(path):
                    try:
                        row.update(summarize_run(path), outcome="on disk")
                    except Exception as exc:  # noqa: BLE001
                        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                else:
                    row["status"] = "missing"
            rows.append(_flat(row, sweep))
    columns = _columns(rows)
    _write_json(os.path.join(out_dir, "summary.json"), {"columns": columns, "rows": rows})
    with replaced(os.path.join(out_dir, "summary.csv")) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k, "") for k in columns})
    def fill(f, check):
        f.attrs["sweep"] = json.dumps(sweep.to_dict())
        runs = f.create_group("runs")
        for r in rows:
            if os.path.exists(r["path"]) and r["status"] not in ("missing",):
                name = os.path.splitext(os.path.basename(r["path"]))[0]
                runs[name] = h5py.ExternalLink(os.path.basename(r["path"]), "/")
        check()
        table = f.create_group("table")
        for c in columns:
            vals = [r.get(c, None) for r in rows]
            if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                   for v in vals):
                table[c] = np.asarray(vals, dtype=float)
            else:
                table[c] = np.asarray(["" if v is None else str(v) for v in vals],
                                      dtype=h5py.string_dtype())
            check()

    index = os.path.join(out_dir, "index.h5")
    write_whole(index, fill, need=INDEX_MARGIN + 64 * len(rows) * (len(columns) + 1),
                what=f"writing {index!r}", kept="every run file is kept; rerun the sweep "
                "(it skips complete runs) to write the index")
    return rows


def _flat(row, sweep):
    out = {"point": row["point"], "trial": row["trial"]}
    for k in sweep.keys:
        out[k] = row["params"].get(k)
    for k, v in row.items():
        if k in ("params",):
            continue
        if k == "path":
            v = os.fspath(v)
        out.setdefault(k, v)
    return out


def _columns(rows):
    first = ["point", "trial"]
    seen = list(first)
    for r in rows:
        for k in r:
            if k not in seen:
                seen.append(k)
    return seen


# ------------------------------------------------------------------ reading
def load(out_dir):
    """The table of a sweep directory, from its summary.json (written first if missing).

    Parameters
    ----------
    out_dir : str or os.PathLike
        A directory written by :func:`run_sweep` or ``particles sweep``.

    Returns
    -------
    SweepTable
    """
    out_dir = os.fspath(out_dir)
    spec_path = os.path.join(out_dir, "sweep.json")
    summary = os.path.join(out_dir, "summary.json")
    if not os.path.exists(spec_path):
        raise FileNotFoundError(f"{out_dir!r} is not a sweep directory (no sweep.json)")
    with open(spec_path) as fh:
        sweep = sweep_from_dict(json.load(fh))
    if not os.path.exists(summary):
        write_index(sweep, out_dir)
    with open(summary) as fh:
        data = json.load(fh)
    rows = data["rows"]
    for r in rows:  # paths relative to the directory, wherever it was moved
        r["path"] = os.path.join(out_dir, os.path.basename(r["path"]))
    return SweepTable(sweep, rows, data["columns"], out_dir)


def replace(sweep, **changes):
    """A copy of ``sweep`` with fields changed (validated again).

    Parameters
    ----------
    sweep : Sweep
    **changes
        Fields of :class:`Sweep` and their new values.

    Returns
    -------
    Sweep
    """
    return dataclasses.replace(sweep, **changes)


__all__ = ["Sweep", "SweepTable", "UnknownColumn", "load", "load_sweep", "make_executor",
           "run_sweep", "run_task", "summarize_run", "sweep_from_dict", "write_index",
           "SerialExecutor", "PoolExecutor", "DaskExecutor"]
