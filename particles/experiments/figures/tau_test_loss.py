"""(c) Over-parameterised: test loss against the initial scale tau.

d = 100, a teacher of 3 bias-free ReLU neurons with random signs, 1000 training and
1000 test points on the sphere; 50 ReLU neurons in the standard scaling (no 1/m);
symmetric Gaussian initialisation (c >= 0 for the first neuron of each pair) rescaled
by tau, one base initialisation, teacher and data set per trial; gradient descent with
step eta = min(10, 0.1 / tau^2) for 10^4 iterations; final and best test loss (the best
over records every 100 iterations). Quick: 5 values of tau and 2 trials.
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, OracleConfig,
                       ProblemConfig, RecordConfig)

from ..sweep import Sweep
from . import OLD_FRAMES, add_kappa, check, curve, draw_kappa, kappa_checks

TITLE = "Over-parameterised: test loss against the initial scale"
X_LABEL = "tau (initial scale)"
Y_LABEL = "test loss"
M, D = 50, 100


def settings(quick):
    if quick:
        return {"taus": [10 ** e for e in (-2.2, -1.4, -0.6, 0.2, 1.0)], "n": 1000,
                "steps": 10_000, "trials": 2}
    return {"taus": [10 ** e for e in np.round(np.arange(-2.2, 1.0001, 0.1), 1)],
            "n": 1000, "steps": 10_000, "trials": 10}


def _step(tau):
    return min(10.0, 0.1 / tau ** 2)


def sweeps(quick):
    st = settings(quick)
    net = NetworkConfig(m=M, scaling="standard")
    base = Config(
        problem=ProblemConfig(d=D, inputs="sphere", m0=3, teacher_output="random_sign"),
        network=net,
        init=InitConfig(symmetric=True, c_law="abs_gaussian"),
        oracle=OracleConfig(kind="sampled", n=st["n"], n_monitor=st["n"]),
        integrator=IntegratorConfig(dt=1.0, t_end=float(st["steps"])),
        record=RecordConfig(schedule="every", every=st["steps"],
                               observables_factor=st["steps"] // 100, particles="ends",
                               kernel_probes=0, frames=OLD_FRAMES))
    taus = [float(t) for t in st["taus"]]
    dts = [net.dt_for_step(_step(t)) for t in taus]
    return {"tau": Sweep(base=base, zip={"init.tau": taus, "integrator.dt": dts,
                                         "integrator.t_end": [dt * st["steps"] for dt in dts]},
                         trials=st["trials"], name="tau", seed=3)}


def protocol(quick):
    st = settings(quick)
    return {"d": D, "m": M, "scaling": "standard", "teacher": "3 relu, random signs",
            "inputs": "sphere", "train_points": st["n"], "test_points": st["n"],
            "init": "symmetric, c ~ |N(0, 1)| and a ~ N(0, I) for the first of each pair, "
                    "times tau; one base per trial", "taus": st["taus"],
            "step": "eta = min(10, 0.1 / tau^2), dt = eta m", "iterations": st["steps"],
            "trials": st["trials"], "best": "minimum over records every 1 % of the run"}


def curves(tables, quick):
    table = tables["tau"]
    final = table.curve("init.tau", "final.test_risk")[0]
    best = table.curve("init.tau", "best.test_risk")[0]
    zeros = zero_predictor_losses(table)
    out = [curve("final test loss", final["x"], final["mean"], final["std"]),
           curve("best test loss", best["x"], best["mean"], best["std"])]
    out[0].update(zero_predictor_loss=float(np.mean(zeros)),
                  zero_predictor_std=float(np.std(zeros, ddof=1)) if len(zeros) > 1 else 0.0,
                  zero_predictor_trials=zeros)
    # where the regime changes: the final test loss half-way (geometrically) between its
    # smallest value and the plateau
    y = np.asarray(final["mean"])
    add_kappa(out[0], table, float(np.sqrt(y.min() * y[-1])))
    return out



def zero_predictor_losses(table):
    """The zero predictor's test loss of each trial (list, trial order).

    Every run starts at f = 0 (symmetric initialisation), so the test loss at t = 0 is the
    zero predictor's, mean(y^2) / 2 on the trial's test set; the runs of one trial share
    the teacher and the data, and the first of them is read.
    """
    from ...io import Run

    first = {}
    for row in table.rows:
        first.setdefault(int(row["trial"]), row["path"])
    out = []
    for trial in sorted(first):
        with Run(first[trial]) as run:
            out.append(float(run.observable("test_risk")[2][0]))
    return out


def checks(data):
    final = np.asarray(data["curves"][0]["mean"])
    zero = data["curves"][0]["zero_predictor_loss"]
    return [check("the test loss rises with tau from near zero: smallest tau < 1/10 of the "
                  "largest", final[0] < 0.1 * final[-1], [final[0], final[-1]]),
            check("a lazy plateau: the two largest taus within a factor 2",
                  max(final[-2:]) < 2 * min(final[-2:]), list(final[-2:])),
            check("the plateau is below the zero predictor's loss (both averaged over the "
                  "trials)", final[-1] < zero, [final[-1], zero]),
            *kappa_checks(data["curves"][0])]


def draw(data, tables):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    for k, c in enumerate(data["curves"]):
        x, m, s = (np.asarray(c[key]) for key in ("x", "mean", "std"))
        ax.plot(x, m, "o-", ms=3, color=f"C{k}", label=c["label"])
        ax.fill_between(x, np.maximum(m - s, 0), m + s, color=f"C{k}", alpha=0.2, lw=0)
    c0 = data["curves"][0]
    zero, zstd = c0["zero_predictor_loss"], c0.get("zero_predictor_std", 0.0)
    ax.axhline(zero, color="0.5", ls="--", lw=0.8,
               label=f"zero predictor (mean over trials{', +- std' if zstd else ''})")
    if zstd:
        ax.axhspan(zero - zstd, zero + zstd, color="0.5", alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    p = data["protocol"]
    ax.set_title(f"{TITLE}\nd = {p['d']}, m = {p['m']}, n = {p['train_points']}, "
                 f"{p['trials']} trials" + (" (quick)" if data["quick"] else ""),
                 fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = draw_kappa(ax, data["curves"][0]["kappa"])
    ax.legend(handles, labels, fontsize="small")
    return fig
