"""m-scaling: how a run with m particles approaches the mean-field limit.

A teacher-student problem (d = 5, one ReLU teacher of 3 neurons for every run, Gaussian
inputs, the exact population risk) is run to t = 4 (Euler, dt = 0.02, initial scale
0.8) for a grid of m and several trials, plus reference runs at a large m. Measured
against m, with fitted slopes and 95 % intervals:

* the gap between the trial-averaged risk at t = 4 and the mean-field limit's (theory:
  the risk's bias is O(1/m), slope -1). The limit is not taken from the reference runs
  (their own bias, C / m_ref, and their noise would shift every point alike): the
  trial-averaged risks of every m, the reference's included, are fitted together by
  R_inf + C m^slope, each weighted by its standard error
  (:func:`particles.analysis.distances.fit_power_offset`). A run's risk fluctuates by
  about 0.05 / sqrt(m) around a bias of about 0.4 / m, so the gap at m = 512 is seen
  through 4 times its size in noise per run: the trials are many (1200);
* one run's L2 distance to the reference network on 4000 held-out inputs (its
  fluctuation is O(1/sqrt(m)), slope -1/2; log-log least squares,
  :func:`particles.analysis.distances.fit_loglog`);
* the 2-Wasserstein distance between the particle clouds (exact by assignment up to a
  reference of 1024 particles, sliced beyond; log-log least squares).

The distances are averaged over the first 48 trials (their spread is small). Full: m =
16 .. 512, 1200 trials, reference m = 4096 (16 runs); quick: m = 16 .. 256, 6 trials,
reference m = 1024 (2 runs). ``python -m benchmarks convergence`` runs it.
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, ProblemConfig,
                       RecordConfig)

from ..sweep import Sweep
from . import OLD_FRAMES, check, curve, draw_fitted

TITLE = "Approaching the mean-field limit as m grows"
X_LABEL = "m (particles)"
Y_LABEL = "distance to the mean-field limit"
D, M0, TAU, DT, T_END, TEACHER_SEED = 5, 3, 0.8, 0.02, 4.0, 12345


def settings(quick):
    if quick:
        return {"ms": [16, 32, 64, 128, 256], "trials": 6, "m_ref": 1024, "ref_trials": 2,
                "distance_trials": 6}
    return {"ms": [16, 32, 64, 128, 256, 512], "trials": 1200, "m_ref": 4096,
            "ref_trials": 16, "distance_trials": 48}


def _base():
    times = tuple(float(t) for t in np.round(np.geomspace(T_END / 16, T_END, 5), 6))
    return Config(problem=ProblemConfig(d=D, m0=M0, seed=TEACHER_SEED),
                     network=NetworkConfig(m=16),
                     init=InitConfig(tau=TAU),
                     integrator=IntegratorConfig(dt=DT, t_end=T_END),
                     record=RecordConfig(schedule="times", times=times, kernel_probes=0,
                                         frames=OLD_FRAMES))


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
            "risk_gap_fit": "weighted least squares of R_inf + C m^slope on the trial-"
                            "averaged risks of every m and the reference",
            "expected_slopes": {"risk gap": -1.0, "function distance": -0.5}}


def _final_states(table, rows):
    out = []
    for i in rows:
        with table.run(i) as run:
            out.append(run.frame(-1))
    return out


def curves(tables, quick):
    from ...analysis import distances as analysis
    from ...model.problems import sample_inputs

    st = settings(quick)
    tm, tr = tables["m"], tables["reference"]
    ref_risks = tr.column("final.risk")
    ref_states = _final_states(tr, range(min(2, len(tr))))
    ms, risks, trials = tm.column("network.m"), tm.column("final.risk"), tm.column("trial")
    X = sample_inputs(np.random.default_rng(7), 4000, D)
    rng = np.random.default_rng(8)
    mean, se, fd, fd_sd, w2, w2_sd = [], [], [], [], [], []
    for m in st["ms"]:
        sel = np.flatnonzero(ms == m)
        vals = risks[sel]
        mean.append(float(vals.mean()))
        se.append(float(vals.std(ddof=1) / np.sqrt(vals.size)))
        few = sel[trials[sel] < st["distance_trials"]]
        states = _final_states(tm, few)
        f = [analysis.function_distance(s, ref_states[0], X) for s in states]
        if st["m_ref"] <= 1024:
            w = [analysis.w2_exact(s, ref_states[0]) for s in states]
        else:
            w = [analysis.sliced_w2(s, ref_states[0], 256, rng) for s in states]
        fd.append(float(np.mean(f)))
        fd_sd.append(float(np.std(f)))
        w2.append(float(np.mean(w)))
        w2_sd.append(float(np.std(w)))
    x = np.asarray(st["ms"], float)
    ref_mean = float(ref_risks.mean())
    ref_se = float(ref_risks.std(ddof=1) / np.sqrt(ref_risks.size))
    # the risks of every m and of the reference, with their standard errors
    all_m, all_mean, all_se = np.r_[x, st["m_ref"]], np.r_[mean, ref_mean], np.r_[se, ref_se]
    fit = analysis.fit_power_offset(all_m, all_mean, all_se)
    fit["intercept"] = float(np.log(fit["coefficient"])) if fit["coefficient"] > 0 else None
    gap = np.asarray(mean) - fit["y_inf"]
    out = [curve("gap of the trial-averaged risk at t = 4 to the fitted limit", x, gap, se),
           curve("L2 distance of one run's network to the reference", x, fd, fd_sd),
           curve("W2 distance between the particle clouds", x, w2, w2_sd)]
    out[0].update(fit=fit, std_is="standard error of the mean", reference_risk=ref_mean,
                  reference_risk_se=ref_se, risks=mean,
                  expansion=_expansion(all_m, all_mean, all_se))
    out[1]["fit"] = analysis.fit_loglog(x, fd)
    out[2]["fit"] = analysis.fit_loglog(x, w2)
    if len(ref_states) > 1:
        out[1]["reference_floor"] = analysis.function_distance(ref_states[0], ref_states[1],
                                                               X)
    return out


def _expansion(x, y, se):
    """Weighted least squares of the theory's expansion E[R_m] = R_inf + C / m + D / m^2
    (exponent -1 imposed, with its next order), against C / m alone: coefficients,
    standard errors, chi2 and dof of both."""
    from scipy import stats

    out = {}
    for name, cols in (("first and second order", 3), ("first order only", 2)):
        A = np.stack([x ** -k for k in range(cols)], axis=1) / se[:, None]
        coef = np.linalg.lstsq(A, y / se, rcond=None)[0]
        r = A @ coef - y / se
        cov = np.linalg.inv(A.T @ A)
        chi2, dof = float(r @ r), int(x.size - cols)
        out[name] = {"coefficients": [float(v) for v in coef],
                     "stderr": [float(v) for v in np.sqrt(np.diag(cov))],
                     "chi2": chi2, "dof": dof, "p_value": float(stats.chi2.sf(chi2, dof))}
    return out


def checks(data):
    gap, fd, w2 = data["curves"]
    out = [check("one run's function distance falls with m (95 % interval of the slope "
                 "below 0)", fd["fit"]["slope_high"] < 0, round(fd["fit"]["slope"], 3)),
           check("the W2 distance falls with m", w2["fit"]["slope"] < 0,
                 round(w2["fit"]["slope"], 3))]
    out.append(check("the risk gap falls with m (95 % interval of the slope below 0)",
                     gap["fit"]["slope_high"] < 0, round(gap["fit"]["slope"], 3)))
    if not data["quick"]:
        widths = {c["label"]: round((c["fit"]["slope_high"] - c["fit"]["slope_low"]) / 2, 3)
                  for c in data["curves"]}
        out.append(check("every slope is determined: each 95 % interval is at most +-0.1",
                         max(widths.values()) <= 0.1, widths))
        exp = gap["expansion"]["first and second order"]
        out.append(check("the theory's bias, C / m with its next order D / m^2, fits the "
                         "trial-averaged risks (chi2 p-value > 0.01)", exp["p_value"] > 0.01,
                         {"C": round(exp["coefficients"][1], 4),
                          "D": round(exp["coefficients"][2], 4),
                          "chi2": round(exp["chi2"], 2), "dof": exp["dof"]}))
    return out


def draw(data, tables):
    import matplotlib
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
    y_labels = ("E[risk at t = 4] - fitted limit", "L2 distance to the reference network",
                "W2 distance to the reference cloud")
    ms = data["protocol"]["ms"]
    for ax, c, label in zip(axes, data["curves"], y_labels):
        draw_fitted(ax, c)
        exp = (c.get("expansion") or {}).get("first and second order")
        if exp:  # the theory's bias with its next order, exponent -1 imposed, on the
            # same axis as the points (minus the power law's fitted limit)
            xs = np.geomspace(ms[0], ms[-1], 100)
            r_inf, cc, dd = exp["coefficients"]
            ax.plot(xs, r_inf - c["fit"]["y_inf"] + cc / xs + dd / xs ** 2, "--",
                    color="0.3", lw=0.9,
                    label=f"C/m + D/m^2 (C = {cc:.3f}, D = {dd:.2f}; chi2 "
                          f"{exp['chi2']:.1f} on {exp['dof']} dof)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ms, [str(v) for v in ms])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel(X_LABEL)
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    p = data["protocol"]
    fig.suptitle(f"{TITLE} (d = {p['d']}, {p['trials']} trials, reference m = {p['m_ref']}"
                 + (", quick" if data["quick"] else "") + ")", fontsize="medium")
    return fig
