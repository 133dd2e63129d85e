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
* ``draw(data, tables) -> matplotlib.figure.Figure``: the figure (:func:`make` saves it
  as ``NAME.png`` at the module's ``DPI``, 100 unless set);
* optionally ``extras(data, tables, png) -> list of str``: more files next to the PNG
  (e.g. an animation);
* ``protocol(quick) -> dict``: what was run, in words and numbers.

Adding a figure is one module and one line in :data:`FIGURES`.
"""
from __future__ import annotations

import importlib
import json
import os
import time

import numpy as np

from ...io.atomic import replaced

#: ``record.frames`` of the figures whose schedule does not read it: the default of
#: version 0.2 (the default is now 120), so that a figure folder begun with it resumes
#: (a sweep compares every key of a run file's configuration with its own)
OLD_FRAMES = 100

#: figure name -> module
FIGURES = {
    "lazy-trajectories": "lazy_trajectories",
    "tau-test-loss": "tau_test_loss",
    "tau-population-loss": "tau_population_loss",
    "m-convergence": "m_convergence",
    "m-scaling": "m_scaling",
    "langevin": "langevin",
    "sparse-deconvolution": "sparse_deconvolution",
}


def get(name):
    """The module of figure ``name``.

    Parameters
    ----------
    name : str
        One of :data:`FIGURES`.

    Returns
    -------
    module
        With ``sweeps``, ``curves``, ``checks``, ``plot``, ``protocol`` and the labels.
    """
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
    log : callable
        Receives the lines the command prints (the checks, the files written).

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
    import matplotlib

    matplotlib.use("Agg", force=False)  # (make runs headless; draw() leaves the backend)
    import matplotlib.pyplot as plt

    fig = module.draw(data, tables)
    try:
        with replaced(png, keep_extension=True) as tmp:
            fig.savefig(tmp, dpi=getattr(module, "DPI", 100))
    finally:
        plt.close(fig)
    if hasattr(module, "extras"):
        module.extras(data, tables, png)
    with replaced(os.path.join(out_dir, f"{name}.json")) as tmp:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1)
    for c in data["checks"]:
        log(f"{'ok    ' if c['passed'] else 'FAILED'} {c['check']} ({c['value']})")
    log(f"wrote {png} and {os.path.join(out_dir, name + '.json')} in {data['seconds']:.0f} s")
    return data


def draw(name, data, out_dir):
    """The figure that :func:`make` saved, drawn again as a matplotlib Figure (for a
    notebook or the gallery): from the numbers :func:`make` returned and the run files
    of its sweeps, which are read, not run again.

    Parameters
    ----------
    name : str
        One of :data:`FIGURES`.
    data : dict
        What :func:`make` returned (or the figure's ``NAME.json``).
    out_dir : str
        The folder :func:`make` wrote (its ``runs-KEY/`` sweep folders).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..sweep import load

    module = get(name)
    tables = {}
    for key in module.sweeps(bool(data["quick"])):
        where = os.path.join(out_dir, f"runs-{key}")
        if not os.path.isdir(where):
            raise FileNotFoundError(f"{where} does not exist; allowed: the out_dir that "
                                    f"figures.make({name!r}, ...) wrote")
        tables[key] = load(where)
    return module.draw(data, tables)


def curve(label, x, mean, std=None):
    """One curve of a figure's JSON (plain floats).

    Parameters
    ----------
    label : str
    x, mean : array_like, shape (k,)
    std : array_like, shape (k,), optional
        Spread over trials (default zeros).

    Returns
    -------
    dict
        ``label``, ``x``, ``mean``, ``std``.
    """
    mean = [float(v) for v in mean]
    return {"label": label, "x": [float(v) for v in x], "mean": mean,
            "std": [0.0] * len(mean) if std is None else [float(v) for v in std]}


def check(description, passed, value):
    """One qualitative check of a figure's JSON.

    Parameters
    ----------
    description : str
        What is checked, as printed.
    passed : bool
    value
        The numbers behind it (JSON-serialisable).

    Returns
    -------
    dict
        ``check``, ``passed``, ``value``.
    """
    return {"check": description, "passed": bool(passed), "value": value}


def kappa_curve(table, x, n=256):
    """kappa(w0), the lazy-training criterion, of every run of ``table`` (one set of
    ``n`` fresh probes), as a curve: mean and standard deviation over the trials at each
    value of column ``x``, and the value of ``x`` where the mean crosses 1 (log-log
    interpolation; None when it does not).

    Parameters
    ----------
    table : particles.experiments.sweep.SweepTable
    x : str
        The column on the x axis (e.g. "init.tau").
    n : int
        Probe inputs of the criterion.

    Returns
    -------
    dict
        A :func:`curve` with ``crosses_one_at`` added.
    """
    from ...analysis.lazy import run_criterion

    xs = table.column(x)
    ks = np.full(len(table), np.nan)
    for i, row in enumerate(table.rows):
        if row.get("status") == "failed":
            continue
        with table.run(i) as run:
            ks[i] = run_criterion(run, n=n, restarts=2).kappa
    keep = np.isfinite(xs) & np.isfinite(ks)
    ux = np.unique(xs[keep])
    mean = np.array([np.mean(ks[keep & (xs == u)]) for u in ux])
    std = np.array([np.std(ks[keep & (xs == u)]) for u in ux])
    out = curve("kappa(w0), lazy-training criterion", ux, mean, std)
    out["crosses_one_at"] = crossing(ux, mean, 1.0)
    return out


def add_kappa(first, table, level):
    """Add to a tau figure's first curve ``first`` its kappa(tau) curve (``kappa``), where
    that curve's mean crosses ``level`` (``transition_at``: the change of regime) and
    kappa there (``kappa_at_transition``, log-log interpolation).

    Parameters
    ----------
    first : dict
        A :func:`curve` against tau (changed in place).
    table : particles.experiments.sweep.SweepTable
        The runs behind it (their files give kappa(w0)).
    level : float
        The loss level that marks the change of regime.

    Returns
    -------
    dict
        ``first``.
    """
    first["kappa"] = kappa = kappa_curve(table, "init.tau")
    at = first["transition_at"] = crossing(first["x"], first["mean"], level)
    first["kappa_at_transition"] = None if at is None else float(np.exp(np.interp(
        np.log(at), np.log(kappa["x"]), np.log(kappa["mean"]))))
    return first


def crossing(x, y, level):
    """The first x where y crosses ``level``, interpolated in log-log.

    Parameters
    ----------
    x, y : array_like, shape (k,)
        A curve, x increasing and positive.
    level : float
        Positive.

    Returns
    -------
    float or None
        None when y never crosses ``level``.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    for k in range(len(x) - 1):
        if (y[k] - level) * (y[k + 1] - level) <= 0 and y[k] != y[k + 1]:
            lx, ly = np.log(x[k:k + 2]), np.log(np.maximum(y[k:k + 2], 1e-300))
            t = (np.log(level) - ly[0]) / (ly[1] - ly[0])
            return float(np.exp(lx[0] + t * (lx[1] - lx[0])))
    return None


def draw_fitted(ax, c, color=None):
    """One curve of a log-log figure on ``ax``: its positive means with error bars, its
    fitted power law (``c["fit"]`` from :func:`particles.analysis.distances.fit_loglog`,
    labelled with the slope and its 95 % interval) and its ``reference_floor`` line, when
    the curve has them.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    c : dict
        A :func:`curve`, with ``fit`` and ``reference_floor`` optional.
    color : str, optional
        Matplotlib colour of the points and the fit.
    """
    x, m, s = (np.asarray(c[k]) for k in ("x", "mean", "std"))
    keep = m > 0
    ax.errorbar(x[keep], m[keep], yerr=s[keep], fmt="o", ms=3, color=color, label=c["label"])
    fit = c.get("fit")
    if fit and fit.get("intercept") is not None:
        ax.plot(x, np.exp(fit["intercept"]) * x ** fit["slope"], "-", color=color, lw=0.8,
                label=f"slope {fit['slope']:.2f} [{fit['slope_low']:.2f}, "
                      f"{fit['slope_high']:.2f}]")
    if "reference_floor" in c:
        ax.axhline(c["reference_floor"], color="0.5", ls=":", lw=0.8,
                   label="two reference runs apart")


def draw_kappa(ax, kappa):
    """kappa against x on a second (log) axis of ``ax``, with the line kappa = 1.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    kappa : dict
        The curve of :func:`kappa_curve`.

    Returns
    -------
    handles, labels : list
        The legend entries of both axes.
    """
    twin = ax.twinx()
    twin.plot(kappa["x"], kappa["mean"], "^:", ms=3, color="0.35", label=kappa["label"])
    twin.axhline(1.0, color="0.35", lw=0.6, ls="-.", label="kappa = 1")
    twin.set_yscale("log")
    twin.set_ylabel("kappa(w0) (lazy when small)", color="0.35")
    twin.tick_params(axis="y", colors="0.35")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    return handles + h2, labels + l2


def kappa_checks(first):
    """The criterion's checks of a tau figure: kappa(w0) falls as tau grows (at h(w0) = 0
    a 2-homogeneous network has kappa ~ tau^-2), it crosses 1 inside the tau range, and
    the loss changes regime within a decade of tau from that crossing (a factor 100 in
    kappa: the criterion locates the transition, its constant is not sharp).

    Parameters
    ----------
    first : dict
        The curve :func:`add_kappa` completed.

    Returns
    -------
    list of dict
        Two :func:`check` entries.
    """
    k = np.asarray(first["kappa"]["mean"])
    one, at = first["kappa"].get("crosses_one_at"), first.get("transition_at")
    near = one is not None and at is not None and 0.1 <= at / one <= 10
    return [check("kappa(w0) falls as tau grows", bool(np.all(np.diff(k) < 0)),
                  [float(k[0]), float(k[-1])]),
            check("the regime changes within a decade of tau from where kappa(w0) = 1",
                  near, {"kappa_one_at_tau": one, "transition_at_tau": at,
                         "kappa_at_transition": first.get("kappa_at_transition")})]
