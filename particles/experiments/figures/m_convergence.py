"""(e) Global convergence: population loss at convergence against the number of neurons.

d = 100, Gaussian inputs, the exact population risk; a teacher of m0 = 5 bias-free
neurons (unit directions, N(0, 1) output weights), students of the same activation:
ReLU and the sigmoid of the talk, the logistic function 1 / (1 + e^-z), whose exact
population risk is a 2-D Gaussian integral per pair of neurons (the library's adaptive
quadrature, about 10 us a pair, so its grid stops at m = 40 with 3 trials); and erf,
the closed-form stand-in for the sigmoid used elsewhere, as an extra panel. Mean-field scaling,
initial directions uniform on the sphere and c ~ N(0, 1), 4000 Euler steps (dt = 0.5
to t = 2000; the sigmoid, whose slope at 0 is 1/4 and whose flow is about 20 times
slower, dt = 2 to t = 8000), then L-BFGS (particles.analysis.optimality.polish) down to the precision floor. Two
curves per activation:

* the particle gradient flow (every layer trained), polished;
* the convex baseline: the hidden layer frozen at the same run's random initialisation
  and the output weights solved exactly on the population risk
  (particles.analysis.convex.random_features).

The floor (band) is the largest polished risk among the runs whose mean-field
certificate (particles.analysis.optimality.certificate) is below 1e-5: what is left there is
optimisation error, since those runs are certified global minimisers up to it. For the
sigmoid, whose flow is the slowest and most ill-conditioned (its outputs have mean 1/2,
so the risk is a small difference of terms of order |c|^2 ~ 100), L-BFGS stops higher
(the floor was 1.7e-8 at full size). Full: relu and erf at m
from 1 to 100 with 5 trials, the sigmoid at m from 1 to 40 with 3 trials; quick: 6
values of m (5 for the sigmoid), 2 trials.
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, ProblemConfig,
                       RecordConfig)

from ..sweep import Sweep
from . import check, curve

TITLE = "Global convergence: population loss against the number of neurons"
X_LABEL = "m (neurons)"
Y_LABEL = "population loss at convergence"
D, M0 = 100, 5
ACTIVATIONS = ("relu", "sigmoid", "erf")
NAMES = {"relu": "relu", "sigmoid": "sigmoid (logistic)", "erf": "erf (sigmoid stand-in)"}
CERTIFIED = 1e-5
#: Euler steps of every run, and the step per activation: the sigmoid's slope at 0 is
#: 1/4 (erf's 2/sqrt(pi)), so its flow is about 20 times slower in mean-field time and
#: takes a step 4 times longer (stable: the curvature scales alike)
STEPS = 4000
DT = {"relu": 0.5, "sigmoid": 2.0, "erf": 0.5}


def settings(quick):
    """{activation: {"ms": [...], "trials": int}}."""
    if quick:
        closed = {"ms": [2, 4, 5, 10, 20, 40], "trials": 2}
        return {"relu": closed, "sigmoid": {"ms": [2, 4, 5, 10, 20], "trials": 2},
                "erf": closed}
    closed = {"ms": [1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50, 64, 80, 100],
              "trials": 5}
    return {"relu": closed, "sigmoid": {"ms": closed["ms"][:14], "trials": 3},
            "erf": closed}


def sweeps(quick):
    grids = settings(quick)
    out = {}
    for act in ACTIVATIONS:
        st = grids[act]
        base = Config(
            problem=ProblemConfig(d=D, m0=M0, teacher_output="gaussian"),
            network=NetworkConfig(m=1, activation=act),
            init=InitConfig(scheme="sphere", tau=1.0),
            integrator=IntegratorConfig(dt=DT[act], t_end=DT[act] * STEPS),
            record=RecordConfig(frames=2, particles="ends", kernel_probes=0))
        out[act] = Sweep(base=base, grid={"network.m": st["ms"]}, trials=st["trials"],
                         name=act, seed=5, seeds={"problem": "trial", "init": "point",
                                                  "run": "point"},
                         post="particles.experiments.figures.m_convergence:post")
    return out


def post(path, config):
    """Polish, certify and solve the convex baseline for one run (in the worker)."""
    from ...analysis.convex import random_features
    from ...io import Run
    from ...analysis.optimality import certify_file, polish_file

    pol = polish_file(path, method="lbfgs", gtol=1e-10)
    cert = certify_file(path, starts=256, hessian=False)
    with Run(path) as run:
        problem, theta0 = run.problem(), run.theta0
    net = config.network
    base = random_features(problem, theta0, activation=net.activation, bias=net.bias,
                           alpha=net.effective_alpha, leak=net.leak)
    return {"polished.risk": float(pol.risk), "polished.grad_norm": float(pol.grad_norm),
            "certificate": float(cert["value"]), "convex.risk": float(base.risk)}


def protocol(quick):
    grids = settings(quick)
    return {"d": D, "m0": M0, "inputs": "gaussian", "risk": "exact population risk",
            "activations": {"relu": "relu", "sigmoid": "logistic 1 / (1 + exp(-z)), risk by "
                            "2-D Gaussian quadrature", "erf": "erf (the closed-form "
                            "stand-in for the sigmoid)"},
            "teacher": "unit directions, N(0, 1) output weights, no bias",
            "init": "a uniform on the unit sphere, c ~ N(0, 1)", "scaling": "mean_field",
            "flow": "4000 Euler steps (dt = 0.5 to t = 2000; sigmoid: dt = 2 to t = 8000), "
                    "then L-BFGS (gtol 1e-10)",
            "convex": "hidden layer frozen at the run's initialisation, output weights "
                      "solved exactly", "grids": grids,
            "floor": f"largest polished risk among runs with certificate < {CERTIFIED:g}"}


def curves(tables, quick):
    out = []
    for act in ACTIVATIONS:
        t = tables[act]
        flow = t.curve("network.m", "polished.risk")[0]
        base = t.curve("network.m", "convex.risk")[0]
        cert, risk = t.column("certificate"), t.column("polished.risk")
        ok = np.isfinite(cert) & (cert < CERTIFIED)
        floor = float(risk[ok].max()) if ok.any() else float("nan")
        name = NAMES[act]
        out.append(curve(f"{name}: particle flow, polished", flow["x"], flow["mean"],
                         flow["std"]))
        out[-1].update(activation=act, kind="flow", floor=floor,
                       certified_runs=int(ok.sum()), runs=len(t))
        out.append(curve(f"{name}: convex baseline (random features)", base["x"],
                         base["mean"], base["std"]))
        out[-1].update(activation=act, kind="convex")
    return out


def checks(data):
    out = []
    for act in ACTIVATIONS:
        flow = next(c for c in data["curves"] if c["activation"] == act and c["kind"] == "flow")
        conv = next(c for c in data["curves"] if c["activation"] == act
                    and c["kind"] == "convex")
        x = np.asarray(flow["x"])
        f, c = np.asarray(flow["mean"]), np.asarray(conv["mean"])
        big = x >= 4 * M0
        floor = flow["floor"]
        out.append(check(f"{act}: the particle flow reaches the floor for m >= 4 m0",
                         bool(np.isfinite(floor)) and bool(np.all(f[big] <= floor)),
                         {"floor": floor, "worst": float(f[big].max())}))
        out.append(check(f"{act}: the convex baseline stays > 1000x above the flow for m >= "
                         "4 m0", bool(np.all(c[big] > 1e3 * f[big])),
                         float(np.min(c[big] / f[big]))))
        small = x < M0
        if small.any():
            out.append(check(f"{act}: below m0 the flow cannot reach the floor",
                             bool(np.all(f[small] > 1e3 * floor)), float(f[small].min())))
    return out


def draw(data, tables):
    import matplotlib
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained", sharey=True)
    for ax, act in zip(axes, ACTIVATIONS):
        for k, c in enumerate(c for c in data["curves"] if c["activation"] == act):
            x, m, s = (np.asarray(c[key]) for key in ("x", "mean", "std"))
            ax.plot(x, m, "o-" if c["kind"] == "flow" else "s--", ms=3, color=f"C{k}",
                    label=c["label"])
            lo = np.where(m - s > 0, m - s, m / 10)
            ax.fill_between(x, lo, m + s, color=f"C{k}", alpha=0.15, lw=0)
            if c["kind"] == "flow" and np.isfinite(c["floor"]):
                ax.axhspan(1e-300, c["floor"], color="0.85", zorder=0,
                           label=f"below optimisation error ({c['floor']:.1g})")
        ax.axvline(M0, color="k", lw=0.8, ls=":", label=f"m = m0 = {M0}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-16)
        grid = data["protocol"]["grids"][act]
        ticks = [v for v in grid["ms"] if v in (1, 2, 5, 10, 20, 40, 100)]
        ax.set_xticks(ticks, [str(v) for v in ticks], fontsize="small")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel(X_LABEL)
        ax.set_title(f"{NAMES[act]}, {grid['trials']} trials")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small", loc="lower left")
    axes[0].set_ylabel(Y_LABEL)
    p = data["protocol"]
    fig.suptitle(f"{TITLE} (d = {p['d']}, m0 = {p['m0']}"
                 + (", quick" if data["quick"] else "") + ")")
    return fig
