"""langevin: the mean-field Langevin dynamics, noisy particles descending a free energy.

A teacher-student problem (d = 2, a ReLU teacher of 3 neurons fixed for every run,
Gaussian inputs, the exact population risk) is learnt by m bias-free ReLU neurons with
weight decay lambda = 0.01 at temperatures T (Euler-Maruyama, dt = 0.05; docs/langevin.md).
Three panels:

* (i) the free energy F_T = G - T H against time for each T (G: risk + weight decay; H:
  the particles' entropy, Kozachenko-Leonenko), mean over trials, with the rate rho of
  an exponential fit F_T(t) = F_inf + A exp(-rho t) on t >= 5 (after the first descent);
* (ii) the final risk (mean over the last quarter of the run and the trials) against T,
  next to the noiseless flow (T = 0): the price of the entropy;
* (iii) propagation of chaos at T = 0.03 and t = 5: the L2 distance between one
  m-particle network and a large-m reference (expected slope -1/2) and the gap between
  the trial-averaged objective G and the reference's (its bias, expected slope -1),
  against m, with fitted log-log slopes and 95 % intervals. The entropy is left out of
  that bias: its estimator's own bias decays like m^(-1/D), slower than 1/m.

Full: T in {0, 0.003, 0.01, 0.03, 0.1}, m = 512, 4 trials, t = 60; chaos m = 16 .. 512,
32 trials, reference m = 4096 (2 runs). Quick: T in {0, 0.01, 0.1}, m = 128, 2 trials,
t = 30; chaos m = 16 .. 128, 8 trials, reference m = 1024 (2 runs).
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, ProblemConfig,
                       RecordConfig)
from ..sweep import Sweep
from ...viz.plotting import TIME_LABEL
from . import OLD_FRAMES, check, curve, draw_fitted

TITLE = "Mean-field Langevin dynamics: free energy, price of the entropy, chaos"
X_LABEL = "time t / temperature T / m"
Y_LABEL = "free energy / risk / distance to the limit"
D, M0, TAU, DT, WD, TEACHER_SEED = 2, 3, 0.5, 0.05, 0.01, 12345
T_FIT = 5.0          # the exponential fit starts here (after the first, fast descent)
T_CHAOS, TEMP_CHAOS = 5.0, 0.03


def settings(quick):
    if quick:
        return {"temperatures": [0.0, 0.01, 0.1], "m": 128, "trials": 2, "t_end": 30.0,
                "ms": [16, 32, 64, 128], "chaos_trials": 8, "m_ref": 1024, "ref_trials": 2}
    return {"temperatures": [0.0, 0.003, 0.01, 0.03, 0.1], "m": 512, "trials": 4,
            "t_end": 60.0, "ms": [16, 32, 64, 128, 256, 512], "chaos_trials": 32,
            "m_ref": 4096, "ref_trials": 2}


def _base(m, t_end, temperature, every):
    return Config(problem=ProblemConfig(d=D, m0=M0, seed=TEACHER_SEED),
                  network=NetworkConfig(m=m), init=InitConfig(tau=TAU),
                  integrator=IntegratorConfig(dt=DT, t_end=t_end, temperature=temperature,
                                              weight_decay=WD),
                  record=RecordConfig(schedule="every", every=every, observables_factor=1,
                                      particles="ends", kernel_probes=0, frames=OLD_FRAMES))


def sweeps(quick):
    st = settings(quick)
    every = int(round(1.0 / DT))  # one record per time unit
    chaos = _base(16, T_CHAOS, TEMP_CHAOS, int(round(T_CHAOS / DT)))
    point = {"problem": "fixed", "init": "point", "run": "point"}
    return {"temperature": Sweep(base=_base(st["m"], st["t_end"], 0.0, every),
                                 grid={"integrator.temperature": st["temperatures"]},
                                 trials=st["trials"], name="T", seed=0,
                                 seeds={"problem": "fixed", "init": "trial", "run": "point"}),
            "chaos": Sweep(base=chaos, grid={"network.m": st["ms"]}, trials=st["chaos_trials"],
                           name="m", seed=100, seeds=point),
            "reference": Sweep(base=chaos, grid={"network.m": [st["m_ref"]]},
                               trials=st["ref_trials"], name="ref", seed=1000, seeds=point)}


def protocol(quick):
    return {"d": D, "m0": M0, "teacher_seed": TEACHER_SEED, "oracle": "exact",
            "activation": "relu", "bias": False, "tau": TAU, "dt": DT, "weight_decay": WD,
            "fit_from_t": T_FIT, "chaos_time": T_CHAOS, "chaos_temperature": TEMP_CHAOS,
            **settings(quick), "entropy": "Kozachenko-Leonenko, k = 3, on (c, a)",
            "expected_slopes": {"function distance": -0.5, "objective bias": -1.0}}


def _series(table, i, name):
    with table.run(i) as run:
        if name not in run.observable_names:
            name = "objective"  # T = 0: F_0 is the objective itself
        _, t, v = run.observable(name)
    return np.asarray(t), np.asarray(v, dtype=np.float64)


def fit_rate(t, F, t0=T_FIT):
    """Fit F(t) = F_inf + A exp(-rho t) on t >= t0 (SciPy's ``curve_fit``).

    Returns
    -------
    dict
        rate, rate_stderr, F_inf, A, r2 (the fit's coefficient of determination), t0.
    """
    from scipy.optimize import curve_fit

    keep = (t >= t0) & np.isfinite(F)
    tt, ff = t[keep], F[keep]
    out = {"rate": float("nan"), "rate_stderr": float("nan"), "F_inf": float("nan"),
           "A": float("nan"), "r2": float("nan"), "t0": float(t0)}
    if tt.size < 4:
        return out

    def model(x, f_inf, a, rho):
        return f_inf + a * np.exp(-rho * (x - t0))

    p0 = (ff[-1], max(ff[0] - ff[-1], 1e-12), 2.0 / (tt[-1] - t0))
    try:
        p, cov = curve_fit(model, tt, ff, p0=p0, maxfev=20000)
    except RuntimeError:
        return out
    res = ff - model(tt, *p)
    tot = np.sum((ff - ff.mean()) ** 2)
    out.update(rate=float(p[2]), rate_stderr=float(np.sqrt(max(cov[2, 2], 0.0))),
               F_inf=float(p[0]), A=float(p[1]),
               r2=float(1 - np.sum(res ** 2) / tot) if tot > 0 else float("nan"))
    return out


def curves(tables, quick):
    from ...analysis import distances as analysis
    from ...model.problems import sample_inputs

    st = settings(quick)
    tt = tables["temperature"]
    temps = tt.column("integrator.temperature")
    out = []
    final = []
    for T in st["temperatures"]:
        sel = np.flatnonzero(temps == T)
        series = [_series(tt, i, "free_energy") for i in sel]
        t = series[0][0]
        F = np.mean([s[1] for s in series], axis=0)
        Fs = np.std([s[1] for s in series], axis=0)
        c = curve(f"free energy, T = {T:g}" if T > 0 else "objective, T = 0 (noiseless)",
                  t, F, Fs)
        c["panel"] = "free_energy"
        c["temperature"] = float(T)
        c["fit"] = fit_rate(t, F)
        out.append(c)
        risks = []
        for i in sel:
            t_r, r = _series(tt, i, "risk")
            risks.append(np.mean(r[t_r >= 0.75 * st["t_end"]]))
        final.append((float(np.mean(risks)), float(np.std(risks))))
    noisy = [T for T in st["temperatures"] if T > 0]
    fr = curve("final risk (last quarter of the run)", noisy,
               [m for T, (m, _) in zip(st["temperatures"], final) if T > 0],
               [s for T, (_, s) in zip(st["temperatures"], final) if T > 0])
    fr["panel"] = "risk"
    fr["noiseless"] = {"mean": final[0][0], "std": final[0][1]}
    out.append(fr)

    tc, tr = tables["chaos"], tables["reference"]
    ref_states = [_final(tr, i) for i in range(len(tr))]
    ref_obj = float(np.mean(tr.column("final.objective")))
    X = sample_inputs(np.random.default_rng(7), 4000, D)
    ms, obj = tc.column("network.m"), tc.column("final.objective")
    fd, fd_sd, gap, gap_se = [], [], [], []
    for m in st["ms"]:
        sel = np.flatnonzero(ms == m)
        f = [analysis.function_distance(_final(tc, i), ref_states[0], X) for i in sel]
        fd.append(float(np.mean(f)))
        fd_sd.append(float(np.std(f)))
        gap.append(float(np.mean(obj[sel]) - ref_obj))
        gap_se.append(float(np.std(obj[sel], ddof=1) / np.sqrt(sel.size)))
    x = np.asarray(st["ms"], float)
    c_fd = curve(f"L2 distance of one run's network to the reference (t = {T_CHAOS:g})",
                 x, fd, fd_sd)
    c_fd["fit"] = analysis.fit_loglog(x, fd)
    if len(ref_states) > 1:
        c_fd["reference_floor"] = analysis.function_distance(ref_states[0], ref_states[1], X)
    c_gap = curve("bias of the trial-averaged objective G (risk + weight decay)", x, gap,
                  gap_se)
    c_gap["std_is"] = "standard error of the mean"
    g = np.asarray(gap)
    c_gap["fit"] = analysis.fit_loglog(x[g > 0], g[g > 0]) if np.sum(g > 0) >= 3 else None
    for c in (c_fd, c_gap):
        c["panel"] = "chaos"
    return out + [c_fd, c_gap]


def _final(table, i):
    with table.run(i) as run:
        return np.asarray(run.frame(-1), dtype=np.float64)


def checks(data):
    fe = [c for c in data["curves"] if c["panel"] == "free_energy"]
    risk = next(c for c in data["curves"] if c["panel"] == "risk")
    fd, gap = [c for c in data["curves"] if c["panel"] == "chaos"]
    out = []
    falls = [c["mean"][-1] < c["mean"][0] for c in fe]
    out.append(check("the free energy falls at every temperature", all(falls),
                     [round(c["mean"][-1] - c["mean"][0], 4) for c in fe]))
    rates = [c["fit"] for c in fe if c["temperature"] > 0]
    good = all(f["rate"] > 0 and f["rate"] > 2 * f["rate_stderr"] and f["r2"] > 0.8
               for f in rates)
    out.append(check("an exponential fits the free energy's approach at every T > 0 (rate "
                     "> 0 at 2 standard errors, R^2 > 0.8)", good,
                     [{"T": c["temperature"], "rate": round(c["fit"]["rate"], 4),
                       "r2": round(c["fit"]["r2"], 3)} for c in fe if c["temperature"] > 0]))
    r = risk["mean"]
    out.append(check("the entropy has a price: the final risk at the largest T exceeds the "
                     "noiseless flow's and the smallest T's",
                     r[-1] > risk["noiseless"]["mean"] and r[-1] > r[0],
                     {"noiseless": risk["noiseless"]["mean"], "by_T": r}))
    f = fd["fit"]
    out.append(check("propagation of chaos: the function distance falls like m^(-1/2) (95 % "
                     "interval of the slope below 0 and within 0.2 of -1/2)",
                     f["slope_high"] < 0 and abs(f["slope"] + 0.5) < 0.2,
                     round(f["slope"], 3)))
    if gap.get("fit"):
        out.append(check("the objective's bias falls with m", gap["fit"]["slope"] < 0,
                         round(gap["fit"]["slope"], 3)))
    return out


def draw(data, tables):
    import matplotlib
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
    ax = axes[0]
    low = np.inf
    for k, c in enumerate(c for c in data["curves"] if c["panel"] == "free_energy"):
        t, m = np.asarray(c["x"]), np.asarray(c["mean"])
        fit = c["fit"]
        if not np.isfinite(fit["rate"]):
            continue
        gap = m - fit["F_inf"]
        keep = gap > 0
        low = min(low, float(np.min(gap[keep]))) if keep.any() else low
        ax.semilogy(t[keep], gap[keep], "o-", ms=2, lw=1, color=f"C{k}",
                    label=f"{c['label']}: rate {fit['rate']:.3g} +- {fit['rate_stderr']:.2g}")
        tf = t[t >= fit["t0"]]
        ax.semilogy(tf, fit["A"] * np.exp(-fit["rate"] * (tf - fit["t0"])), ls=":",
                    color="k", lw=0.8)
    if np.isfinite(low):
        ax.set_ylim(bottom=0.3 * low)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(r"$F_T(t) - F_\infty$  ($F_T = G - T\,H$; $F_\infty$ fitted)")
    ax.set_title(f"(i) free energy; dotted: exponential fits on t >= {T_FIT:g}",
                 fontsize="medium")
    ax.legend(fontsize="x-small")

    ax = axes[1]
    c = next(c for c in data["curves"] if c["panel"] == "risk")
    ax.errorbar(c["x"], c["mean"], yerr=c["std"], fmt="o-", ms=4, label=c["label"])
    ax.axhline(c["noiseless"]["mean"], color="0.3", ls="--", label="noiseless flow (T = 0)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("population risk")
    ax.set_title("(ii) the price of the entropy", fontsize="medium")
    ax.legend(fontsize="x-small")

    ax = axes[2]
    for k, c in enumerate(c for c in data["curves"] if c["panel"] == "chaos"):
        draw_fitted(ax, c, color=f"C{k}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ms = data["protocol"]["ms"]
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("m (particles)")
    ax.set_ylabel("distance to the reference")
    ax.set_title(f"(iii) propagation of chaos, T = {TEMP_CHAOS:g}", fontsize="medium")
    ax.legend(fontsize="x-small")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    p = data["protocol"]
    fig.suptitle(f"{TITLE} (d = {p['d']}, weight decay {p['weight_decay']:g}"
                 + (", quick" if data["quick"] else "") + ")", fontsize="medium")
    return fig
