"""Static figures from run files (matplotlib; imported only when used).

Every function takes ``ax=None`` (or ``axes``) and returns the figure. Runs are given
as paths or as open :class:`particles.io.Run` objects; several runs can be
overlaid (e.g. runs with different m) in the risk and invariant figures.
"""
from __future__ import annotations

import os

import numpy as np

#: the one label of a time axis, in every plot and figure
TIME_LABEL = "time t (mean-field units)"
POS_COLOR = "#d62728"
NEG_COLOR = "#1f77b4"
TEACHER_COLOR = "#2ca02c"


def _open(run):
    from ..io import Run

    return run if isinstance(run, Run) else Run(run)


def _axes(ax, ncols=1, figsize=(5.5, 4.5)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(1, ncols, figsize=figsize, layout="constrained")
    return fig, ax


def check_output(path):
    """Raise ValueError unless ``path`` can be written as an image or animation.

    Parameters
    ----------
    path : str or os.PathLike
        The output file: a supported extension, in an existing directory, not a
        directory itself.

    Raises
    ------
    ValueError
        Naming the path and what is allowed.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"output directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"output directory {directory!r} is not writable")
    if os.path.isdir(path):
        raise ValueError(f"output {path!r} is a directory; allowed: a file path")


def run_label(run):
    """Short label of a run: m, tau, alpha and the file name.

    Parameters
    ----------
    run : particles.Run

    Returns
    -------
    str
    """
    c = run.config
    return (f"m={c.network.m}, tau={c.init.tau:g}"
            + (f", alpha={c.network.alpha:g}" if c.network.alpha != 1 else "")
            + (f", {c.network.scaling}" if c.network.scaling != "mean_field" else "")
            + (", tangent" if c.network.model == "tangent" else "")
            + f" ({os.path.basename(run.path)})")


def _positive(t, v):
    keep = (t > 0) & (v > 0) & np.isfinite(v)
    return t[keep], v[keep]


def plot_risk(runs, ax=None, test=True):
    """Risk vs mean-field time (log-log), with the test risk dashed when present.

    Parameters
    ----------
    runs : path, Run, or a list of them
    ax : matplotlib Axes, optional
    test : bool
        Also draw ``test_risk`` when a run has it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    fig, ax = _axes(ax)
    for k, r in enumerate(runs):
        r = _open(r)
        color = f"C{k}"
        _, t, v = r.observable("risk")
        ax.loglog(*_positive(t, v), color=color, label=run_label(r))
        if test and "test_risk" in r.observable_names:
            _, t, v = r.observable("test_risk")
            ax.loglog(*_positive(t, v), color=color, ls="--", label="test risk")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("risk")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_invariants(runs, ax=None):
    """Max drift of the ReLU conservation law Q_i = c_i^2 - |a_i|^2 - b_i^2 vs time.

    Parameters
    ----------
    runs : list of particles.Run
        One curve per run.
    ax : matplotlib.axes.Axes, optional
        Drawn into (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    fig, ax = _axes(ax)
    for k, r in enumerate(runs):
        r = _open(r)
        if "invariant_drift" not in r.observable_names:
            raise ValueError(f"{r.path!r} has no invariant_drift (the activation "
                             f"{r.config.network.activation!r} has no conservation law)")
        _, t, v = r.observable("invariant_drift")
        ax.loglog(*_positive(t, v), color=f"C{k}", label=run_label(r))
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(r"max$_i$ |Q$_i$(t) - Q$_i$(0)|")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_free_energy(runs, axes=None):
    """Free energy F_T = G - T H, the objective G and the entropy H against time, for
    runs of the mean-field Langevin dynamics (``integrator.temperature > 0``).

    Parameters
    ----------
    runs : path, Run, or a list of them
        Several runs (e.g. one per temperature) are overlaid.
    axes : sequence of 2 matplotlib Axes, optional
        Left: F_T (solid) and G (dashed); right: the entropy estimate H.

    Returns
    -------
    matplotlib.figure.Figure
    """
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    if axes is None:
        fig, axes = _axes(None, ncols=2, figsize=(10, 4.2))
    else:
        fig = axes[0].figure
    for k, r in enumerate(runs):
        r = _open(r)
        if "free_energy" not in r.observable_names:
            raise ValueError(f"{r.path!r} has no free_energy record; allowed: a run with "
                             "integrator.temperature > 0 and a deterministic risk (not the "
                             "online oracle with oracle.n_monitor = 0)")
        ic = r.config.integrator
        label = (f"T={ic.temperature:g}" + (" / log(e + t)" if ic.temperature_schedule == "log"
                                            else "") + f", {run_label(r)}")
        _, t, F = r.observable("free_energy")
        _, _, G = r.observable("objective")
        _, _, H = r.observable("entropy")
        axes[0].plot(t, F, color=f"C{k}", label=label)
        axes[0].plot(t, G, color=f"C{k}", ls="--", lw=1)
        axes[1].plot(t, H, color=f"C{k}")
    axes[0].set_xlabel(TIME_LABEL)
    axes[0].set_ylabel(r"$F_T = G - T H$ (solid), $G$ (dashed)")
    axes[0].set_title("free energy and objective", fontsize="medium")
    axes[0].legend(fontsize="small")
    axes[1].set_xlabel(TIME_LABEL)
    axes[1].set_ylabel("entropy H (nats)")
    axes[1].set_title("entropy of the particles (Kozachenko-Leonenko)", fontsize="medium")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig


#: how particles are scaled against the teacher's neurons in the 2-D views
UNITS = ("teacher", "neuron", "raw")
_UNIT_LABELS = {"teacher": r"$\frac{\alpha_{eff}}{m_0}|c_i|\, a_i$ (teacher units)",
                "neuron": r"$\frac{\alpha_{eff}}{m}|c_i|\, a_i$ (output weight units)",
                "raw": r"$|c_i|\, a_i$"}


def particle_scale(run, units="teacher"):
    """Factor k such that a particle is drawn at k |c_i| a_i (teacher at |c*_l| a*_l).

    ``units``:

    * "teacher" (default): k = alpha_eff / m0. A particle is drawn where a teacher
      neuron would be if m / m0 particles (its share) sat at that point, so a cluster
      that recovered a teacher neuron with its share of particles lies on the star,
      whatever the scaling, alpha and m (m0 = 1 without a teacher).
    * "neuron": k = alpha_eff / m, each neuron's own output weight: the particles of a
      cluster add up to the star (the picture of code that writes f = sum_i c_i
      relu(a_i . x), where alpha_eff = m).
    * "raw": k = 1, the parameters themselves.

    Parameters
    ----------
    run : particles.Run
    units : {"teacher", "neuron", "raw"}
        As above.

    Returns
    -------
    float
    """
    if units not in UNITS:
        raise ValueError(f"units={units!r} is unknown; allowed: {', '.join(UNITS)}")
    if units == "raw":
        return 1.0
    alpha = run.config.network.effective_alpha
    if units == "neuron":
        return alpha / run.m
    return alpha / (run.teacher.shape[0] if run.teacher is not None else 1)


def unit_label(units, projected=False):
    """Axis label of the 2-D views for ``units``.

    Parameters
    ----------
    units : {"teacher", "neuron", "raw"}
    projected : bool
        Whether the view is a projection of d > 2 (the label then names the basis).

    Returns
    -------
    str
    """
    return _UNIT_LABELS[units] + (" (projected)" if projected else "")


def planar(theta, d, basis=None, scale=1.0):
    """2-D positions of particles: scale |c_i| a_i (d = 2) or its projection on ``basis``.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    d : int
    basis : ndarray, shape (d, 2), optional
        Orthonormal columns for d > 2.
    scale : float
        Factor on the positions (see :func:`particle_scale`).

    Returns
    -------
    ndarray, shape (m, 2)
    """
    p = (scale * np.abs(theta[:, :1])) * theta[:, 1:d + 1]
    if basis is not None:
        return p @ basis
    return p[:, :2]


def projection_basis(run, projection="auto"):
    """Orthonormal (d, 2) basis for a d > 2 view (None for d <= 2).

    ``projection``: "auto" (teacher if it has two neurons, else pca), "teacher" (span
    of the first two teacher directions), "pca" (top two principal directions of the
    final cloud |c_i| a_i), or "coords:I,J" (coordinates I and J, from 0).

    Parameters
    ----------
    run : particles.Run
    projection : str
        As above.

    Returns
    -------
    ndarray, shape (d, 2), or None
    """
    d = run.d
    allowed = "'auto', 'teacher', 'pca' or 'coords:I,J' with 0 <= I, J < d"
    if d <= 2:
        if projection not in ("auto", "teacher", "pca") and not str(projection).startswith("coords:"):
            raise ValueError(f"projection={projection!r} is unknown; allowed: {allowed}")
        return None
    teacher = run.teacher
    if projection == "auto":
        projection = "teacher" if teacher is not None and teacher.shape[0] >= 2 else "pca"
    if projection == "teacher":
        if teacher is None or teacher.shape[0] < 2:
            raise ValueError("projection='teacher' needs a teacher with at least 2 neurons")
        q, _ = np.linalg.qr(teacher[:2, 1:d + 1].T)
        return q[:, :2]
    if projection == "pca":
        p = planar(run.frame(-1), d, np.eye(d))
        p = p - p.mean(0)
        _, _, vt = np.linalg.svd(p, full_matrices=False)
        return vt[:2].T
    if isinstance(projection, str) and projection.startswith("coords:"):
        try:
            i, j = (int(x) for x in projection[7:].split(","))
        except ValueError:
            raise ValueError(f"projection={projection!r} is unknown; allowed: {allowed}") from None
        if not (0 <= i < d and 0 <= j < d and i != j):
            raise ValueError(f"projection={projection!r} is out of range; allowed: {allowed}")
        basis = np.zeros((d, 2))
        basis[i, 0] = basis[j, 1] = 1.0
        return basis
    raise ValueError(f"projection={projection!r} is unknown; allowed: {allowed}")


def draw_reference(ax, run, basis, radius=1.0):
    """Unit circle and the teacher's neurons |c*_l| a*_l with rays from the origin, each
    star filled with the colour of the sign of c*_l (as the particles are).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    run : particles.Run
        The run whose teacher is drawn (nothing but the circle without a teacher).
    basis : ndarray, shape (d, 2), or None
        The view's projection (:func:`projection_basis`); None for d <= 2.
    radius : float
        Radius of the reference circle (the scale of the particles, :func:`particle_scale`).
    """
    th = np.linspace(0, 2 * np.pi, 200)
    ax.plot(radius * np.cos(th), radius * np.sin(th), color="0.6", lw=0.8, zorder=0)
    teacher = run.teacher
    if teacher is not None:
        tp = planar(teacher, run.d, basis)
        far = 1e3
        colors = sign_colors(teacher[:, 0])
        for (x, y), color in zip(tp, colors):
            ax.plot([0, far * x], [0, far * y], color=color, lw=0.8, ls=":", zorder=0)
        ax.scatter(tp[:, 0], tp[:, 1], marker="*", s=220, c=colors, edgecolor="k",
                   linewidth=0.9, zorder=5)


def sign_colors(c):
    """POS_COLOR where c >= 0, NEG_COLOR elsewhere.

    Parameters
    ----------
    c : array_like, shape (k,)
        Output weights (or signed masses).

    Returns
    -------
    ndarray of str, shape (k,)
    """
    return np.where(np.asarray(c) >= 0, POS_COLOR, NEG_COLOR)


def sign_legend(ax, teacher=None, **kw):
    """Legend of the 2-D particle views: the flow's particles by the sign of c_i, their
    start, and the teacher's neurons by the sign of c*_l (only the signs it has).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    teacher : ndarray, shape (m0, d + 2), optional
        The teacher's neurons (no teacher entries without one).
    **kw
        Passed to ``ax.legend`` (e.g. ``loc``, ``fontsize``).
    """
    from matplotlib.lines import Line2D

    def mark(**k):
        k.setdefault("markersize", 6)
        return Line2D([], [], ls="none", **k)

    handles = [mark(marker="o", color=POS_COLOR, label="gradient flow, c > 0"),
               mark(marker="o", color=NEG_COLOR, label="gradient flow, c < 0"),
               mark(marker="o", markerfacecolor="none", markeredgecolor="0.55",
                    label="start")]
    if teacher is not None:
        for sign, color, label in ((1, POS_COLOR, "teacher, c* > 0"),
                                   (-1, NEG_COLOR, "teacher, c* < 0")):
            if np.any(np.sign(teacher[:, 0]) == sign):
                handles.append(mark(marker="*", color=color, markeredgecolor="k",
                                    markersize=11, label=label))
    kw.setdefault("loc", "lower left")
    kw.setdefault("fontsize", 8)
    kw.setdefault("framealpha", 0.8)
    return ax.legend(handles=handles, **kw)


def frame_indices(times, count):
    """Indices of ``count`` frames spread evenly in log-time (frame 0 included).

    Parameters
    ----------
    times : array_like, shape (T,)
        The stored frames' times, increasing.
    count : int
        Frames wanted (fewer when the run has fewer).

    Returns
    -------
    ndarray of int
        Increasing, unique, frame 0 and the last frame included.
    """
    times = np.asarray(times)
    n = times.size
    if n <= count:
        return np.arange(n)
    pos = times[times > 0]
    if pos.size == 0:
        return np.unique(np.linspace(0, n - 1, count).round().astype(int))
    targets = np.geomspace(pos[0], times[-1], count - 1)
    idx = np.searchsorted(times, targets).clip(0, n - 1)
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def motion_indices(run, count, share=0.7):
    """Indices of ``count`` stored frames spaced so that the particles' motion is visible
    from the start: evenly in a blend of the motion done so far (``share``: the cumulative
    change of the recorded distance from the start, read from the observables, no frame
    is read) and of log-time (the rest, so a plateau still gets frames). Falls back to
    :func:`frame_indices` when the run records no distance.

    Parameters
    ----------
    run : particles.Run
    count : int
        Frames wanted.
    share : float
        Weight of the motion in the blend, in [0, 1] (0: log-time only).

    Returns
    -------
    ndarray of int
        Increasing, frame 0 and the last frame included.
    """
    times = np.asarray(run.times[:len(run)])
    n = times.size
    if n <= count or "distance" not in run.observable_names:
        return frame_indices(times, count)
    _, t_obs, dist = run.observable("distance")
    t_obs, dist = np.asarray(t_obs, float), np.asarray(dist, float)
    ok = np.isfinite(dist)
    if ok.sum() < 2:
        return frame_indices(times, count)
    moved = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(dist[ok])))])
    total = moved[-1]
    if not total > 0:
        return frame_indices(times, count)
    motion = np.interp(times, t_obs[ok], moved) / total
    pos = times[times > 0]
    t_lo = pos[0] if pos.size else 1.0
    logt = np.log(np.maximum(times, t_lo) / t_lo)
    logt = logt / logt[-1] if logt[-1] > 0 else np.linspace(0, 1, n)
    s = share * motion + (1 - share) * logt
    s = np.maximum.accumulate(s)
    idx = np.searchsorted(s, np.linspace(0, s[-1], count)).clip(0, n - 1)
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def plot_paths(run, ax=None, count=40, projection="auto", units="teacher", title=None):
    """Particle paths at log-spaced times, coloured by the sign of c_i.

    The static version of the animation (the talk's trajectory figure): teacher
    neurons as stars with dotted rays, the unit circle, each particle's path from its
    start (hollow circle) to its final position (dot), particles and teacher in the
    units ``units`` (see :func:`particle_scale`).

    Parameters
    ----------
    run : Run or str
    ax : matplotlib Axes, optional
    count : int
        Frames drawn along each path (log-spaced in time).
    projection : str
        As for :func:`projection_basis`.
    units : {"teacher", "neuron", "raw"}
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    run = _open(run)
    fig, ax = _axes(ax, figsize=(5.5, 5.5))
    basis = projection_basis(run, projection)
    scale = particle_scale(run, units)
    idx = frame_indices(run.times, count)
    paths = np.stack([planar(theta, run.d, basis, scale)
                      for _, _, theta in run.iter_frames(idx)])
    last = run.frame(int(idx[-1]))
    colors = sign_colors(last[:, 0])
    for i in range(paths.shape[1]):
        ax.plot(paths[:, i, 0], paths[:, i, 1], color=colors[i], lw=0.8, alpha=0.7)
    ax.scatter(paths[0, :, 0], paths[0, :, 1], facecolors="none", edgecolors=colors, s=14,
               linewidth=0.6, zorder=3)
    ax.scatter(paths[-1, :, 0], paths[-1, :, 1], c=colors, s=12, zorder=4)
    draw_reference(ax, run, basis)
    _square_limits(ax, paths.reshape(-1, 2), run, basis)
    ax.set_aspect("equal")
    ax.set_title(title or f"particle paths, t = 0 .. {run.times[idx[-1]]:.4g}")
    ax.set_xlabel(unit_label(units, basis is not None))
    sign_legend(ax, run.teacher, fontsize="x-small")
    return fig


def _square_limits(ax, pts, run, basis):
    ref = [np.ones(1)]
    if run.teacher is not None:
        ref.append(np.abs(planar(run.teacher, run.d, basis)).ravel())
    lim = 1.1 * max(np.percentile(np.abs(pts), 99.5) if pts.size else 1.0,
                    max(r.max() for r in ref))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    return lim


def plot_histograms(run, frame=-1, axes=None, bins=30):
    """Histograms of c_i and |a_i| at frame 0 and at ``frame``.

    Parameters
    ----------
    run : Run or str
    frame : int
        The stored frame compared with the first (default: the last).
    axes : sequence of 2 matplotlib Axes, optional
    bins : int
        Bins shared by both times.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    run = _open(run)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    else:
        fig = axes[0].figure
    t0, t1 = run.frame(0), run.frame(frame)
    times = run.times
    tl = times[frame]
    d = run.d
    values = [(t[:, 0], np.linalg.norm(t[:, 1:d + 1], axis=1)) for t in (t0, t1)]
    for j in range(2):  # one set of bins for both times: a narrow start stays visible
        both = np.concatenate([values[0][j], values[1][j]])
        lo, hi = float(np.min(both)), float(np.max(both))
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        axes[j].hist(values[1][j], bins=edges, alpha=0.6, color="C1", label=f"t = {tl:.4g}")
        axes[j].hist(values[0][j], bins=edges, histtype="step", lw=1.8, color="C0",
                     label="t = 0")
    axes[0].set_xlabel("output weight $c_i$")
    axes[1].set_xlabel(r"input weight norm $|a_i|$")
    for a in axes:
        a.set_ylabel("neurons")
        a.legend(fontsize="small")
    return fig


def plot_lazy(runs, axes=None):
    """How lazy runs are, against time: relative distance from the start
    |theta - theta0| / |theta0|, relative drift of the tangent kernel on the probe set,
    and, for a run made by :func:`particles.lazy.run_twin`, the gap between the
    network and its tangent twin on the probe inputs.

    Parameters
    ----------
    runs : Run, path, or a list of them
    axes : sequence of 3 matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..analysis.distances import relative_distance
    from ..io.annotate import read_annotation

    runs = [_open(r) for r in (runs if isinstance(runs, (list, tuple)) else [runs])]
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    else:
        fig = axes[0].figure
    drawn = [False, False, False]
    for k, run in enumerate(runs):
        label, color = run_label(run), f"C{k}"
        moved = relative_distance(run)
        if moved is not None:
            tp, vp = _positive(*moved)
            axes[0].loglog(tp, vp, color=color, label=label)
            drawn[0] = True
        if "kernel_drift" in run.observable_names:
            _, t, v = run.observable("kernel_drift")
            tp, vp = _positive(t, v)
            axes[1].loglog(tp, vp, color=color, label=label)
            drawn[1] = True
        if read_annotation(run.f, "twin", group="lazy") is not None:
            t, v = run.f["lazy/twin/times"][()], run.f["lazy/twin/gap"][()]
            tp, vp = _positive(t, v)
            axes[2].loglog(tp, vp, color=color, label=label)
            drawn[2] = True
    titles = (r"$|\theta - \theta_0| / |\theta_0|$", r"$|K_t - K_0|_F / |K_0|_F$",
              r"rms $|f - \bar f|$ (tangent twin)")
    empty = ("no distance recorded", "no kernel drift recorded (record.kernel_probes = 0 "
             "or tangent model)", "no tangent twin (particles.lazy.run_twin)")
    for ax, title, ok, msg in zip(axes, titles, drawn, empty):
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(TIME_LABEL)
        ax.grid(True, which="both", alpha=0.3)
        if ok:
            ax.legend(fontsize="x-small")
        else:
            ax.text(0.5, 0.5, msg, ha="center", va="center", transform=ax.transAxes,
                    fontsize="small", wrap=True)
    return fig


def plot_sweep(table, x, y, by=None, ax=None, logx=None, logy=None):
    """Mean (line) and spread (band: one standard deviation) over trials of column ``y``
    against column ``x`` of a sweep (:class:`particles.experiments.sweep.SweepTable`),
    one curve per value of the other swept keys unless ``by`` says otherwise (see
    :meth:`~particles.experiments.sweep.SweepTable.curve`); the title counts the runs
    behind each point.

    Axes are logarithmic when every value is positive and spans more than a decade,
    unless ``logx``/``logy`` say otherwise.

    Parameters
    ----------
    table : SweepTable
    x, y : str
        Column names (a unique suffix is enough: "tau" for "init.tau").
    by : str or list of str, optional
        The keys that separate the curves.
    ax : matplotlib Axes, optional
    logx, logy : bool, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, figsize=(6, 4.2))
    curves = table.curve(x, y, by=by)
    for k, c in enumerate(curves):
        xs, mean, std = (np.asarray(c[key], float) for key in ("x", "mean", "std"))
        ax.plot(xs, mean, "o-", color=f"C{k}", ms=3, label=c["label"])
        ax.fill_between(xs, mean - std, mean + std, color=f"C{k}", alpha=0.2, lw=0)
    def wide(v):
        v = np.asarray(v, float)
        v = v[np.isfinite(v)]
        return v.size > 1 and v.min() > 0 and v.max() / v.min() > 10
    allx = np.concatenate([c["x"] for c in curves]) if curves else np.array([])
    ally = np.concatenate([c["mean"] for c in curves]) if curves else np.array([])
    if logx if logx is not None else wide(allx):
        ax.set_xscale("log")
    if logy if logy is not None else wide(ally):
        ax.set_yscale("log")
    ax.set_xlabel(table.resolve(x))
    ax.set_ylabel(table.resolve(y))
    counts = sorted({k for c in curves for k in c["n"]})
    runs = (f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}") if counts \
        else "0"
    ax.set_title(f"{table.sweep.name}: mean and spread over {runs} run"
                 + ("s" if counts and counts[-1] > 1 else "") + " per point", fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_files(paths, kind="risk", units="teacher"):
    """The figure of ``kind`` for one or several run files (what ``particles plot`` draws).

    Parameters
    ----------
    paths : list of str
        Run files; the risk, invariants, lazy and free-energy kinds overlay several.
    kind : str
        One of risk, paths, histograms, invariants, frame, lazy, free-energy,
        deconvolution (``particles plot --help`` says what each draws).
    units : {"teacher", "neuron", "raw"}
        Scale of the particles in the paths and frame kinds (:func:`particle_scale`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..io import Run

    runs = [Run(p) for p in paths]
    try:
        if kind == "risk":
            return plot_risk(runs)
        if kind == "invariants":
            return plot_invariants(runs)
        if kind == "lazy":
            return plot_lazy(runs)
        if kind == "free-energy":
            return plot_free_energy(runs)
        if len(runs) > 1:
            raise ValueError(f"--kind {kind} takes one file; got {len(runs)}")
        if len(runs[0]) < 1:
            raise ValueError(f"{paths[0]!r} has no frames yet")
        if kind == "paths":
            return plot_paths(runs[0], units=units)
        if kind == "histograms":
            return plot_histograms(runs[0])
        raise ValueError(f"kind={kind!r} is unknown; allowed: risk, paths, histograms, "
                         "invariants, lazy, free-energy (deconvolution runs: see "
                         "particles.viz.measure.plot_files)")
    finally:
        for r in runs:
            r.close()
