"""(a)-(b) Not lazy against lazy: the 2-D paths of |c_i| a_i for tau = 0.1 and tau = 2.

d = 2, a teacher of 3 bias-free ReLU neurons (directions uniform on the circle, i.i.d.
+-1 output weights) drawn from the problem seed ``TEACHER_SEED``, the same in every run:
its output weights have both signs (+1, -1, -1) and its directions are 108 to 130 degrees
apart, as in the published panel (the published seed is not known; a draw with one sign
only, or two directions close together, shows neither); 15 training and 20 test points
on the circle, drawn from the same seed; 16 ReLU neurons in
the standard scaling f = sum_i c_i relu(a_i . x); the first neuron of each symmetric
pair has a uniform unit a and c ~ Uniform[0, 1], its copy (-c, a); every weight is
multiplied by tau. Full-batch gradient descent with step 0.005 for 10^5 iterations
(dt = 0.005 m). The quick version is the same (it takes seconds).
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, OracleConfig,
                       ProblemConfig, RecordConfig)
from ...io import Run

from ..sweep import Sweep
from . import check, curve

TITLE = "Not lazy (tau = 0.1) and lazy (tau = 2) training in the plane"
X_LABEL = "time t (mean-field units)"
Y_LABEL = "test loss"
TAUS = (0.1, 2.0)
ETA, STEPS, M = 0.005, 100_000, 16
TEACHER_SEED = 6


def base():
    net = NetworkConfig(m=M, scaling="standard")
    return Config(
        problem=ProblemConfig(d=2, inputs="sphere", m0=3, teacher_output="random_sign",
                              seed=TEACHER_SEED),
        network=net,
        init=InitConfig(scheme="sphere", symmetric=True, c_law="uniform"),
        oracle=OracleConfig(kind="sampled", n=15, n_monitor=20),
        integrator=IntegratorConfig(dt=net.dt_for_step(ETA),
                                       t_end=net.dt_for_step(ETA) * STEPS),
        record=RecordConfig(frames=100, observables_factor=2, kernel_probes=0))


def sweeps(quick):
    return {"tau": Sweep(base=base(), grid={"init.tau": list(TAUS)}, name="tau", seed=1,
                        seeds={"problem": "fixed", "init": "trial", "run": "trial"})}


def protocol(quick):
    cfg = base()
    return {"d": 2, "teacher": "3 relu neurons, random signs, unit directions",
            "teacher_seed": TEACHER_SEED,
            "train_points": 15, "test_points": 20, "m": M, "scaling": "standard",
            "init": "symmetric pairs, a uniform on the circle, c ~ Uniform[0, 1], times tau",
            "taus": list(TAUS), "gd_step": ETA, "iterations": STEPS,
            "dt": cfg.integrator.dt, "t_end": cfg.integrator.t_end, "units": "neuron"}


def _moved(path):
    with Run(path) as run:
        t0, t1 = run.frame(0), run.frame(-1)
        rel = float(np.linalg.norm(t1 - t0) / np.linalg.norm(t0))
        u0 = np.abs(t0[:, :1]) * t0[:, 1:3]
        u1 = np.abs(t1[:, :1]) * t1[:, 1:3]
        ang = np.degrees(np.abs(np.angle((u1[:, 0] + 1j * u1[:, 1])
                                         / (u0[:, 0] + 1j * u0[:, 1]))))
        _, t, v = run.observable("test_risk")
    return rel, float(np.median(ang)), t, v


def curves(tables, quick):
    from ...analysis.lazy import run_criterion

    out = []
    for row in sorted(tables["tau"].rows, key=lambda r: r["init.tau"]):
        rel, ang, t, v = _moved(row["path"])
        with Run(row["path"]) as run:
            kappa = run_criterion(run, n=256).kappa
            teacher = run.teacher[:, :3].tolist()
        out.append(curve(f"test loss, tau = {row['init.tau']:g}, kappa(w0) = {kappa:.2g} "
                         f"(moved {rel:.3g} x |theta0|, median turn {ang:.2g} deg)", t, v))
        out[-1].update(tau=row["init.tau"], relative_distance=rel, median_turn_degrees=ang,
                       kappa=kappa, teacher=teacher)
    return out


def checks(data):
    lo, hi = data["curves"]
    signs = sorted({int(np.sign(c)) for c, *_ in lo["teacher"]})
    rays = [np.arctan2(y, x) for _, x, y in lo["teacher"]]
    gaps = [float(np.degrees(abs(np.angle(np.exp(1j * (p - q))))))
            for i, p in enumerate(rays) for q in rays[i + 1:]]
    return [check("tau = 2 is lazy: the median neuron turns < 5 degrees, less than a fifth "
                  "of the turn at tau = 0.1, and the parameters move < 10 % of their norm",
                  hi["median_turn_degrees"] < min(5, lo["median_turn_degrees"] / 5)
                  and hi["relative_distance"] < 0.1,
                  [round(hi["median_turn_degrees"], 3), round(hi["relative_distance"], 4)]),
            check("the teacher has output weights of both signs (the published panel's two "
                  "colours) and directions at least 90 degrees apart",
                  signs == [-1, 1] and min(gaps) >= 90, [signs, round(min(gaps), 1)]),
            check("tau = 0.1 learns features: the median neuron turns > 10 degrees and the "
                  "parameters move more than their initial norm",
                  lo["median_turn_degrees"] > 10 and lo["relative_distance"] > 1,
                  [round(lo["median_turn_degrees"], 3), round(lo["relative_distance"], 4)]),
            check("tau = 0.1 generalises better than tau = 2",
                  lo["mean"][-1] < hi["mean"][-1], [lo["mean"][-1], hi["mean"][-1]]),
            check("the criterion predicts it: kappa(w0) > 1 at tau = 0.1 and < 1 at tau = 2",
                  lo["kappa"] > 1 > hi["kappa"], [lo["kappa"], hi["kappa"]])]


#: resolution of the saved figure
DPI = 90


def draw(data, tables):
    import matplotlib.pyplot as plt

    from ...viz import plotting

    rows = sorted(tables["tau"].rows, key=lambda r: r["init.tau"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.9), layout="constrained")
    for ax, row, c in zip(axes, rows, data["curves"]):
        tau = row["init.tau"]
        with Run(row["path"]) as run:
            plotting.plot_paths(run, ax=ax, count=100, units="neuron",
                                title=f"tau = {tau:g}: " + ("not lazy" if tau < 1 else "lazy")
                                + f"\nkappa(w0) = {c['kappa']:.2g}; moved "
                                f"{c['relative_distance']:.2g} x |theta0|")
    for k, c in enumerate(data["curves"]):
        t, v = np.asarray(c["x"]), np.asarray(c["mean"])
        keep = t > 0
        axes[2].loglog(t[keep], v[keep], color=f"C{k}", label=f"tau = {c['tau']:g}, kappa(w0) = {c['kappa']:.2g}")
    axes[2].set_xlabel(X_LABEL)
    axes[2].set_ylabel("test loss (20 points)")
    axes[2].grid(True, which="both", alpha=0.3)
    axes[2].legend()
    fig.suptitle(TITLE)
    return fig


def extras(data, tables, png):
    """The two runs side by side as an animation, ``NAME.gif`` next to ``png``."""
    import os

    from ...viz.animation import animate_side_by_side

    rows = sorted(tables["tau"].rows, key=lambda r: r["init.tau"])
    gif = os.path.splitext(png)[0] + ".gif"
    animate_side_by_side([r["path"] for r in rows], gif, units="neuron",
                         titles=[f"tau = {r['init.tau']:g}" for r in rows], frames=50)
    return [gif]
