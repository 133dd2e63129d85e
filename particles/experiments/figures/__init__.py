"""The talk's figures, one module each: the sweep behind a figure, its numbers and its
plot (docs/figures.md has the protocols).

A figure module defines

* ``TITLE``, ``X_LABEL``, ``Y_LABEL``;
* ``sweeps(quick) -> {key: particles.experiments.sweep.Sweep}``: the runs (``quick``: a reduced
  grid that finishes in a few minutes on 2 cores);
* ``curves(tables, quick) -> list of dict``: ``{"label", "x", "mean", "std"}`` from the
  sweeps' tables (:class:`particles.experiments.sweep.SweepTable`);
* ``checks(data) -> list of dict``: ``{"check", "passed", "value"}``, the qualitative
  shape the theory predicts;
* ``plot(data, tables, path)``: the PNG (and any extra file, e.g. a GIF);
* ``protocol(quick) -> dict``: what was run, in words and numbers.

Adding a figure is one module and one line in :data:`FIGURES`.
"""
from __future__ import annotations

import importlib
import json
import os
import time

#: figure name -> module
FIGURES = {
    "lazy-trajectories": "lazy_trajectories",
    "tau-test-loss": "tau_test_loss",
    "tau-population-loss": "tau_population_loss",
    "m-convergence": "m_convergence",
    "m-scaling": "m_scaling",
}


def get(name):
    """The module of figure ``name``."""
    if name not in FIGURES:
        raise ValueError(f"figure {name!r} is unknown; allowed: {', '.join(FIGURES)}")
    return importlib.import_module(f"{__name__}.{FIGURES[name]}")


def make(name, out_dir=None, *, quick=False, workers=None, dask=None, progress=None,
         log=print):
    """Run the sweeps behind figure ``name`` and write ``NAME.png`` and ``NAME.json``.

    Parameters
    ----------
    name : str
        One of :data:`FIGURES`.
    out_dir : str, optional
        Default ``figure-NAME`` (``-quick`` appended with ``quick``). The runs go to
        ``out_dir/runs-KEY/`` (one sweep directory per sweep: resumable).
    quick : bool
        The reduced protocol.
    workers, dask, progress
        As for :func:`particles.experiments.sweep.run_sweep`.

    Returns
    -------
    dict
        The figure's numbers: ``figure``, ``x_label``, ``y_label``, ``curves``,
        ``protocol``, ``checks``, ``seconds``, ``executor``.
    """
    from ..sweep import run_sweep

    module = get(name)
    out_dir = out_dir or f"figure-{name}" + ("-quick" if quick else "")
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    tables = {}
    for key, sweep in module.sweeps(quick).items():
        tables[key] = run_sweep(sweep, os.path.join(out_dir, f"runs-{key}"), workers=workers,
                                dask=dask, progress=progress)
        failed = tables[key].failed()
        if failed:
            raise RuntimeError(f"{len(failed)} run(s) of {name} failed, e.g. "
                               f"{failed[0]['path']}: {failed[0]['error']}; rerun to retry")
    data = {"figure": name, "title": module.TITLE, "x_label": module.X_LABEL,
            "y_label": module.Y_LABEL, "curves": module.curves(tables, quick),
            "protocol": module.protocol(quick), "quick": bool(quick)}
    data["checks"] = module.checks(data)
    data["seconds"] = time.perf_counter() - t0
    data["executor"] = (f"dask {dask if isinstance(dask, str) else 'client'}"
                        if dask is not None else (
        "serial" if workers == 1 else f"pool ({workers or 'all cores'} workers)"))
    png = os.path.join(out_dir, f"{name}.png")
    module.plot(data, tables, png)
    tmp = os.path.join(out_dir, f"{name}.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, os.path.join(out_dir, f"{name}.json"))
    for c in data["checks"]:
        log(f"{'ok    ' if c['passed'] else 'FAILED'} {c['check']} ({c['value']})")
    log(f"wrote {png} and {os.path.join(out_dir, name + '.json')} in {data['seconds']:.0f} s")
    return data


def curve(label, x, mean, std=None):
    """One curve of a figure's JSON (plain floats)."""
    mean = [float(v) for v in mean]
    return {"label": label, "x": [float(v) for v in x], "mean": mean,
            "std": [0.0] * len(mean) if std is None else [float(v) for v in std]}


def check(description, passed, value):
    """One qualitative check of a figure's JSON."""
    return {"check": description, "passed": bool(passed), "value": value}
