"""(d) Online SGD: population loss at convergence against the initial scale tau.

d = 100, a teacher of 3 bias-free ReLU neurons with random signs, inputs on the sphere;
50 ReLU neurons in the mean-field scaling f = (1/m) sum_i c_i relu(a_i . x); symmetric
initialisation a ~ N(0, tau^2 I), c ~ tau |N(0, 1)| for the first neuron of each pair;
online SGD with a fresh batch of 200 inputs per step, 20000 steps of size
eta = min(0.25 / tau^2, 25) on the mean-field clock, the input layer's rate multiplied
by d (integrator.lr_a = d). Statistic: the mean minibatch loss over the last 2000 steps
(observable batch_loss), mean and spread over trials (teacher per trial,
initialisation and batches per run), divided by the largest mean.

The teacher's output is divided by the batch size, as in the original code
(problem.teacher_scale = 1/200). It matters: for a 2-homogeneous ReLU network, scaling
the target by s is scaling the initialisation by 1/sqrt(s) (and time), so without the
division the tau axis moves by sqrt(200) = 14 and the step eta = 25 diverges at small
tau (measured: the risk overflows within 12 steps at tau = 0.01). Quick: 7 values of
tau and 2 trials.
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, OracleConfig,
                       ProblemConfig, RecordConfig)

from ..sweep import Sweep
from . import OLD_FRAMES, add_kappa, check, curve, draw_kappa, kappa_checks

TITLE = "Online SGD: loss at convergence against the initial scale"
X_LABEL = "tau (initial scale)"
Y_LABEL = "loss at convergence / largest"
M, D, BATCH, STEPS, WINDOW = 50, 100, 200, 20_000, 2000


def settings(quick):
    if quick:
        return {"taus": [0.01, 0.04, 0.1, 0.2, 0.4, 1.0, 4.0], "trials": 2}
    taus = [0.01, 0.02, 0.04] + [round(10 ** e, 6) for e in np.arange(-1, 0.001, 0.1)] + [
        2.0, 4.0, 8.0]
    return {"taus": taus, "trials": 10}


def _step(tau):
    return min(0.25 / tau ** 2, 25.0)


def sweeps(quick):
    st = settings(quick)
    base = Config(
        problem=ProblemConfig(d=D, inputs="sphere", m0=3, teacher_output="random_sign",
                                 teacher_scale=1.0 / BATCH),
        network=NetworkConfig(m=M),
        init=InitConfig(symmetric=True, c_law="abs_gaussian"),
        oracle=OracleConfig(kind="online", batch=BATCH),
        integrator=IntegratorConfig(method="sgd", dt=1.0, t_end=float(STEPS), lr_a=D),
        record=RecordConfig(schedule="every", every=STEPS,
                               observables_factor=STEPS // WINDOW, particles="ends",
                               kernel_probes=0, frames=OLD_FRAMES))
    taus = [float(t) for t in st["taus"]]
    dts = [_step(t) for t in taus]
    return {"tau": Sweep(base=base, zip={"init.tau": taus, "integrator.dt": dts,
                                         "integrator.t_end": [dt * STEPS for dt in dts]},
                         trials=st["trials"], name="tau", seed=4,
                         seeds={"problem": "trial", "init": "point", "run": "point"})}


def protocol(quick):
    st = settings(quick)
    return {"d": D, "m": M, "scaling": "mean_field", "teacher": "3 relu, random signs, "
            "output divided by the batch size (teacher_scale = 1/200, as the original code)",
            "inputs": "sphere", "batch": BATCH,
            "steps": STEPS, "step": "dt = eta = min(0.25 / tau^2, 25)", "lr_a": D,
            "init": "symmetric, a ~ N(0, tau^2 I), c ~ tau |N(0, 1)|",
            "statistic": f"mean minibatch loss over the last {WINDOW} steps",
            "taus": st["taus"], "trials": st["trials"],
            "seeds": "teacher per trial; initialisation and batches per run"}


def curves(tables, quick):
    table = tables["tau"]
    raw = table.curve("init.tau", "final.batch_loss")[0]
    pop = table.curve("init.tau", "final.risk")[0]
    top = max(raw["mean"])
    out = [curve("loss at convergence (last 2000 minibatches) / largest", raw["x"],
                 np.asarray(raw["mean"]) / top, np.asarray(raw["std"]) / top),
           curve("population loss at the end / largest", pop["x"],
                 np.asarray(pop["mean"]) / max(pop["mean"]),
                 np.asarray(pop["std"]) / max(pop["mean"]))]
    out[0]["largest_mean"] = top
    # where the regime changes: the loss half-way (geometrically) from its smallest value
    y = np.asarray(out[0]["mean"])
    add_kappa(out[0], table, float(np.sqrt(max(y.min(), 1e-300) * y.max())))
    return out



def checks(data):
    c = data["curves"][0]
    x, y = np.asarray(c["x"]), np.asarray(c["mean"])
    small, large = y[x <= 0.1], y[x >= 0.4]
    return [check("the loss at tau <= 0.1 is far below the loss at tau >= 0.4 (largest of "
                  "the first < 1/5 of the smallest of the second)",
                  small.max() < 0.2 * large.min(), [float(small.max()), float(large.min())]),
            *kappa_checks(data["curves"][0])]


def draw(data, tables):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5.0), layout="constrained")
    for k, c in enumerate(data["curves"]):
        x, m, s = (np.asarray(c[key]) for key in ("x", "mean", "std"))
        ax.plot(x, m, "o-" if k == 0 else "s--", ms=3, color=f"C{k}", label=c["label"])
        if k == 0:
            ax.fill_between(x, np.maximum(m - s, 0), m + s, color=f"C{k}", alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    p = data["protocol"]
    ax.set_title(f"{TITLE}\nd = {p['d']}, m = {p['m']}, batch {p['batch']}, {p['trials']} "
                 "trials" + (" (quick)" if data["quick"] else ""), fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = draw_kappa(ax, data["curves"][0]["kappa"])
    fig.legend(handles, labels, fontsize="small", loc="outside lower center", ncols=2)
    return fig
