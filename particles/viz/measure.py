"""Pictures of a measure on the torus (deconvolution runs): particles in the (position,
mass) plane with marker area proportional to |c_i| and colour by sign, the true spikes as
stems, and the first variation V(p) against +-lam (the certificate's picture)."""
from __future__ import annotations

import numpy as np

from .plotting import TEACHER_COLOR, _axes, _open, frame_indices, sign_colors


def is_measure(run):
    """Whether ``run`` holds a measure on the torus (a deconvolution run).

    Parameters
    ----------
    run : particles.Run

    Returns
    -------
    bool
    """
    return run.config.problem.kind == "deconvolution"


def measure_xy(theta):
    """Each particle's position and the mass it carries, (p_i mod 1, c_i / m).

    Parameters
    ----------
    theta : ndarray, shape (m, 3)
        Particles (c | p | b) of a measure.

    Returns
    -------
    ndarray, shape (m, 2)
    """
    t = np.asarray(theta, dtype=np.float64)
    return np.column_stack([t[:, 1] % 1.0, t[:, 0] / t.shape[0]])


def marker_sizes(theta, cmax, smallest=4.0, largest=120.0):
    """Marker areas proportional to |c_i| (``largest`` at ``cmax``), at least ``smallest``.

    Parameters
    ----------
    theta : ndarray, shape (m, 3)
        Particles (c | p | b) of a measure.
    cmax : float
        The |c| drawn at ``largest`` (e.g. the largest over the frames shown).
    smallest, largest : float
        Marker areas in points^2.

    Returns
    -------
    ndarray, shape (m,)
    """
    c = np.abs(np.asarray(theta[:, 0], dtype=np.float64))
    return smallest + (largest - smallest) * (c / cmax if cmax > 0 else 0 * c)


def draw_truth(ax, spikes):
    """The true spikes (p_k, w_k) as stems with diamond heads.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    spikes : ndarray, shape (m0, 2)
        Positions p_k in [0, 1) and weights w_k.
    """
    for p, w in spikes:
        ax.plot([p, p], [0, w], color=TEACHER_COLOR, lw=1.6, zorder=2)
    ax.scatter(spikes[:, 0], spikes[:, 1], marker="D", s=36, color=TEACHER_COLOR,
               edgecolor="k", linewidth=0.5, zorder=5, label="truth")
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)


def mass_limits(spikes, thetas):
    """Symmetric y limits covering the spikes and the particles' masses c_i / m.

    Parameters
    ----------
    spikes : ndarray, shape (m0, 2), or None
        The true spikes (positions, weights).
    thetas : list of ndarray, shape (m, 3)
        The frames drawn.

    Returns
    -------
    tuple of float
        (-y, y), with a 15 % margin.
    """
    top = max([float(np.abs(spikes[:, 1]).max())]
              + [float(np.abs(t[:, 0]).max()) / t.shape[0] for t in thetas])
    return -1.15 * top, 1.15 * top


def unwrap_breaks(xs):
    """Paths on the torus, shape (T, m): NaN where a step wraps around (|jump| > 1/2), so
    that a plotted line does not cross the whole axis.

    Parameters
    ----------
    xs : ndarray, shape (T, m)
        Positions in [0, 1) over time.

    Returns
    -------
    ndarray, shape (T, m)
    """
    xs = np.array(xs, dtype=np.float64, copy=True)
    jump = np.abs(np.diff(xs, axis=0)) > 0.5
    xs[1:][jump] = np.nan
    return xs


def plot_measure_paths(run, ax=None, count=60, title=None):
    """Particle paths in the (position, mass) plane at log-spaced times, the truth as
    stems; hollow circles at the start, dots (area ~ |c|) at the end.

    Parameters
    ----------
    run : particles.Run
        A deconvolution run.
    ax : matplotlib.axes.Axes, optional
        Drawn into (default: a new figure).
    count : int
        Frames read (log-spaced in time).
    title : str, optional
        Axes title (default: "particles in the (position, mass) plane" and the times).

    Returns
    -------
    matplotlib.figure.Figure
    """
    run = _open(run)
    fig, ax = _axes(ax, figsize=(7.0, 4.2))
    idx = frame_indices(run.times, count)
    thetas = [theta for _, _, theta in run.iter_frames(idx)]
    xy = np.stack([measure_xy(t) for t in thetas])
    last = thetas[-1]
    colors = sign_colors(last[:, 0])
    xs = unwrap_breaks(xy[:, :, 0])
    for i in range(xy.shape[1]):
        ax.plot(xs[:, i], xy[:, i, 1], color=colors[i], lw=0.7, alpha=0.6)
    ax.scatter(xy[0, :, 0], xy[0, :, 1], facecolors="none", edgecolors="0.5", s=10,
               linewidth=0.5, zorder=3, label="start")
    cmax = float(np.abs(last[:, 0]).max())
    ax.scatter(xy[-1, :, 0], xy[-1, :, 1], c=colors, s=marker_sizes(last, cmax), zorder=4,
               edgecolor="k", linewidth=0.3, label="end (area ~ |c|)")
    spikes = run.problem().spikes
    draw_truth(ax, spikes)
    ax.set_xlim(0, 1)
    ax.set_ylim(*mass_limits(spikes, thetas))
    ax.set_xlabel("position p on the torus")
    ax.set_ylabel("mass c_i / m (spikes: w_k)")
    ax.set_title(title or f"particles in the (position, mass) plane, t = 0 .. "
                 f"{run.times[idx[-1]]:.4g}", fontsize="medium")
    ax.legend(fontsize="x-small", loc="lower right")
    return fig


def plot_deconvolution(run, axes=None, polished=True):
    """The certificate's picture: V(p) against +-lam (top), the measure and the truth
    (bottom), at the run's polished state when there is one, else its last state.

    Parameters
    ----------
    run : particles.io.Run or path
    axes : sequence of 2 Axes, optional
    polished : bool
        Use ``/optimality/polish/theta`` when the file has it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..analysis.deconvolution import sup_first_variation

    run = _open(run)
    prob = run.problem()
    which = "last"
    if polished and "optimality/polish/theta" in run.f:
        theta, which = run.f["optimality/polish/theta"][...], "polished"
    else:
        theta = run.checkpoint()["theta"]
    if axes is None:
        fig, axes = plt.subplots(2, 1, figsize=(7.0, 5.6), sharex=True,
                                 gridspec_kw={"height_ratios": [1.2, 1]}, layout="constrained")
    else:
        fig = axes[0].figure
    top, bottom = axes
    fv = prob.first_variation(theta)
    p = np.linspace(0, 1, max(2001, 40 * prob.cutoff + 1))
    top.plot(p, fv(p), color="k", lw=1.0, label="V(p)")
    lam = prob.reg
    if lam > 0:
        top.axhline(lam, color="C3", ls="--", lw=0.9, label="+-reg")
        top.axhline(-lam, color="C3", ls="--", lw=0.9)
    value, where = sup_first_variation(fv)
    top.scatter([where], [fv(where)], marker="x", color="C3", zorder=5,
                label=f"sup |V| = {value:.4g}")
    xy = measure_xy(theta)
    alive = theta[:, 0] != 0
    top.scatter(xy[alive, 0], fv(xy[alive, 0]), c=sign_colors(theta[alive, 0]), s=12,
                zorder=4)
    top.set_ylabel("first variation V(p)")
    top.legend(fontsize="x-small", loc="upper right")
    top.set_title(f"{which} state, t = {run.state.get('time', 0.0):.4g}: V(p) against "
                  f"+-reg = {lam:g}", fontsize="medium")
    cmax = float(np.abs(theta[:, 0]).max())
    draw_truth(bottom, prob.spikes)
    bottom.scatter(xy[:, 0], xy[:, 1], c=sign_colors(theta[:, 0]),
                   s=marker_sizes(theta, cmax), edgecolor="k", linewidth=0.3, zorder=4,
                   label="particles (area ~ |c|)")
    bottom.set_ylim(*mass_limits(prob.spikes, [theta]))
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("position p on the torus")
    bottom.set_ylabel("mass c_i / m")
    bottom.legend(fontsize="x-small", loc="lower right")
    return fig


def plot_files(paths, kind):
    """CLI helper: the figure of ``kind`` for a deconvolution run ("deconvolution",
    "paths"), or None when ``kind`` is another kind of figure (the network views of
    :func:`particles.viz.plotting.plot_files` apply).

    Parameters
    ----------
    paths : list of str
        Run files (one for the deconvolution kind).
    kind : str
        The ``particles plot --kind``.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    from ..io import Run

    if kind not in ("deconvolution", "paths", "histograms"):
        return None
    if len(paths) != 1:
        if kind == "deconvolution":
            raise ValueError(f"--kind deconvolution takes one file; got {len(paths)}")
        return None
    with Run(paths[0]) as run:
        measure = is_measure(run)
        if kind == "deconvolution" and not measure:
            raise ValueError(f"--kind deconvolution needs a deconvolution run; {paths[0]!r} "
                             f"is a {run.config.problem.kind} run")
        if not measure:
            return None
        if len(run) < 1:
            raise ValueError(f"{paths[0]!r} has no frames yet")
        if kind == "histograms":
            raise ValueError("--kind histograms is for networks; allowed for a deconvolution "
                             "run: deconvolution, paths, risk, frame")
        return plot_deconvolution(run) if kind == "deconvolution" else plot_measure_paths(run)
