"""m-scaling: how a run with m particles approaches the mean-field limit.

A teacher-student problem (d = 5, one ReLU teacher of 3 neurons for every run, Gaussian
inputs, the exact population risk) is run to t = 4 (Euler, dt = 0.02, initial scale
0.8) for a grid of m and several trials, plus reference runs at a large m. Measured
against m, with fitted log-log slopes and 95 % intervals
(:func:`particles.analysis.fit_loglog`):

* the gap between the trial-averaged risk at t = 4 and the reference's (theory: the
  risk's bias is O(1/m), slope -1);
* one run's L2 distance to the reference network on 4000 held-out inputs (its
  fluctuation is O(1/sqrt(m)), slope -1/2);
* the 2-Wasserstein distance between the particle clouds (exact by assignment up to a
  reference of 1024 particles, sliced beyond).

Full: m = 16 .. 512, 48 trials, reference m = 4096 (3 runs); quick: m = 16 .. 256, 6
trials, reference m = 1024 (2 runs). ``python -m benchmarks convergence`` runs it.
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, ProblemConfig,
                       RecordConfig)

from ..sweep import Sweep
from . import check, curve, draw_fitted

TITLE = "Approaching the mean-field limit as m grows"
X_LABEL = "m (particles)"
Y_LABEL = "distance to the mean-field limit"
D, M0, TAU, DT, T_END, TEACHER_SEED = 5, 3, 0.8, 0.02, 4.0, 12345


def settings(quick):
    if quick:
        return {"ms": [16, 32, 64, 128, 256], "trials": 6, "m_ref": 1024, "ref_trials": 2}
    return {"ms": [16, 32, 64, 128, 256, 512], "trials": 48, "m_ref": 4096, "ref_trials": 3}


def _base():
    times = tuple(float(t) for t in np.round(np.geomspace(T_END / 16, T_END, 5), 6))
    return Config(problem=ProblemConfig(d=D, m0=M0, seed=TEACHER_SEED),
                     network=NetworkConfig(m=16),
                     init=InitConfig(tau=TAU),
                     integrator=IntegratorConfig(dt=DT, t_end=T_END),
                     record=RecordConfig(schedule="times", times=times, kernel_probes=0))


def sweeps(quick):
    st = settings(quick)
    seeds = {"problem": "fixed", "init": "point", "run": "point"}
    return {"m": Sweep(base=_base(), grid={"network.m": st["ms"]}, trials=st["trials"],
                       name="m", seed=0, seeds=seeds),
            "reference": Sweep(base=_base(), grid={"network.m": [st["m_ref"]]},
                               trials=st["ref_trials"], name="ref", seed=1000, seeds=seeds)}


def protocol(quick):
    st = settings(quick)
    return {"d": D, "m0": M0, "teacher_seed": TEACHER_SEED, "oracle": "exact",
            "tau": TAU, "dt": DT, "t_end": T_END, **st,
            "w2": "exact (assignment)" if st["m_ref"] <= 1024 else "sliced (256 directions)",
            "expected_slopes": {"risk gap": -1.0, "function distance": -0.5}}


def _final_states(table):
    out = []
    for i in range(len(table)):
        with table.run(i) as run:
            out.append(run.frame(-1))
    return out


def curves(tables, quick):
    from ...analysis import distances as analysis
    from ...model.problems import sample_inputs

    st = settings(quick)
    tm, tr = tables["m"], tables["reference"]
    ref_risk = float(np.mean(tr.column("final.risk")))
    ref_states = _final_states(tr)
    states = _final_states(tm)
    ms, risks = tm.column("network.m"), tm.column("final.risk")
    X = sample_inputs(np.random.default_rng(7), 4000, D)
    rng = np.random.default_rng(8)
    gap, gap_se, fd, fd_sd, w2, w2_sd = [], [], [], [], [], []
    for m in st["ms"]:
        sel = np.flatnonzero(ms == m)
        vals = risks[sel]
        gap.append(float(vals.mean() - ref_risk))
        gap_se.append(float(vals.std(ddof=1) / np.sqrt(vals.size)))
        f = [analysis.function_distance(states[i], ref_states[0], X) for i in sel]
        if st["m_ref"] <= 1024:
            w = [analysis.w2_exact(states[i], ref_states[0]) for i in sel]
        else:
            w = [analysis.sliced_w2(states[i], ref_states[0], 256, rng) for i in sel]
        fd.append(float(np.mean(f)))
        fd_sd.append(float(np.std(f)))
        w2.append(float(np.mean(w)))
        w2_sd.append(float(np.std(w)))
    x = np.asarray(st["ms"], float)
    fits = {}
    g = np.asarray(gap)
    if np.sum(g > 0) >= 3:
        fits["risk_gap"] = analysis.fit_loglog(x[g > 0], g[g > 0])
    fits["function_distance"] = analysis.fit_loglog(x, fd)
    fits["w2"] = analysis.fit_loglog(x, w2)
    out = [curve("gap of the trial-averaged risk at t = 4 to the reference", x, gap, gap_se),
           curve("L2 distance of one run's network to the reference", x, fd, fd_sd),
           curve("W2 distance between the particle clouds", x, w2, w2_sd)]
    for c, key in zip(out, ("risk_gap", "function_distance", "w2")):
        c["fit"] = fits.get(key)
    out[0]["std_is"] = "standard error of the mean"
    if len(ref_states) > 1:
        out[1]["reference_floor"] = analysis.function_distance(ref_states[0], ref_states[1],
                                                               X)
    return out


def checks(data):
    gap, fd, w2 = data["curves"]
    out = [check("one run's function distance falls with m (95 % interval of the slope "
                 "below 0)", fd["fit"]["slope_high"] < 0, round(fd["fit"]["slope"], 3)),
           check("the W2 distance falls with m", w2["fit"]["slope"] < 0,
                 round(w2["fit"]["slope"], 3))]
    if gap.get("fit"):
        out.append(check("the risk gap falls with m", gap["fit"]["slope"] < 0,
                         round(gap["fit"]["slope"], 3)))
    return out


def plot(data, tables, path):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), layout="constrained")
    for ax, c in zip(axes, data["curves"]):
        draw_fitted(ax, c)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(X_LABEL)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    p = data["protocol"]
    fig.suptitle(f"{TITLE} (d = {p['d']}, {p['trials']} trials, reference m = {p['m_ref']}"
                 + (", quick" if data["quick"] else "") + ")", fontsize="medium")
    fig.savefig(path, dpi=100)
    plt.close(fig)
