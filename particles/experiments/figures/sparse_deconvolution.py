"""sparse-deconvolution: "this principle is general" -- particles that carry mass recover
spikes, and the Wasserstein-Fisher-Rao flow gets there first.

Signed spikes on the torus are seen through the Dirichlet kernel of cutoff K = 20 with
noise 0.01 on the Fourier coefficients; the particles descend J = 1/2 ||Phi mu - y||^2
+ reg |mu| with reg = 0.1 from a grid of small masses (+-0.01, alternating signs),
dt = 0.01 (docs/deconvolution.md). Three panels:

* (i) the example's particles (data/deconvolution.toml: 4 spikes of mixed signs, m = 100)
  in the (position, mass) plane, Wasserstein-Fisher-Rao and Wasserstein from the same
  start, each at its largest stable position rate from {1e-4, 1e-5} (the Wasserstein
  flow moves a particle at c_i V'(p_i), its mass times the WFR speed: lr_a = 1e-4 is
  unstable there);
* (ii) success rate (the certificate says global: sup |V| <= reg (1 + 1e-2)) of the WFR
  flow against m, for m0 spikes drawn 2.5 / K apart with random signs, one draw per trial.
  A particle that starts outside a spike's main lobe (width about 1/K) does not find it:
  the grid of alternating signs must be finer than that, m of the order of 2K and more;
* (iii) the objective gap J(t) - J* of the two runs of (i), with J* the smaller of their
  polished objectives, and the times each takes to bring the gap below 1e-2, 1e-4 and
  1e-6 times J(0) - J*.

Full: t = 500, m in {16, 24, 32, 48, 64, 96, 128}, m0 in {2, 4, 6}, 16 trials. Quick:
t = 200, m in {16, 32, 64, 128}, m0 in {2, 4}, 4 trials.
"""
from __future__ import annotations

import numpy as np

from ...config import (Config, InitConfig, IntegratorConfig, NetworkConfig, OracleConfig,
                       ProblemConfig, RecordConfig)
from ..sweep import Sweep
from ...viz.plotting import TIME_LABEL
from . import check, curve

TITLE = "Sparse deconvolution: particles that carry mass"
X_LABEL = "position / m / time t"
Y_LABEL = "mass / success rate / objective gap"
K, NOISE, REG, TAU, DT = 20, 0.01, 0.1, 0.01, 0.01
SPIKES = ((0.12, 1.0), (0.31, -0.8), (0.55, 0.6), (0.83, -1.2))
M_EXAMPLE = 100
RATES = {"wfr": 1e-4, "wasserstein": 1e-5}   # the largest stable position rate of each
GAP_LEVELS = (1e-2, 1e-4, 1e-6)  # gap thresholds, relative to J(0) - J*


def settings(quick):
    if quick:
        return {"t_end": 200.0, "ms": [16, 32, 64, 128], "m0s": [2, 4], "trials": 4}
    return {"t_end": 500.0, "ms": [16, 24, 32, 48, 64, 96, 128], "m0s": [2, 4, 6],
            "trials": 16}


def _base(m, t_end, spikes=SPIKES, frames=60):
    return Config(seed=0,  # the spikes' draws and trial seeds of the published figure
                  problem=ProblemConfig(kind="deconvolution", d=1, cutoff=K,
                                        spikes=spikes, noise=NOISE, reg=REG),
                  network=NetworkConfig(m=m), init=InitConfig(scheme="grid", tau=TAU),
                  oracle=OracleConfig(kind="exact"),
                  integrator=IntegratorConfig(dt=DT, t_end=t_end, geometry="wfr",
                                              lr_a=RATES["wfr"]),
                  record=RecordConfig(frames=frames, observables_factor=4, kernel_probes=0))


def sweeps(quick):
    st = settings(quick)
    fixed = {"problem": "fixed", "init": "fixed", "run": "fixed"}
    return {
        "geometry": Sweep(base=_base(M_EXAMPLE, st["t_end"]),
                          zip={"integrator.geometry": list(RATES),
                               "integrator.lr_a": list(RATES.values())},
                          trials=1, name="geometry", seed=0, seeds=fixed),
        "success": Sweep(base=_base(4, st["t_end"], spikes=(), frames=2).replace(
                             record=RecordConfig(frames=2, particles="ends",
                                                 observables_factor=1, kernel_probes=0)),
                         grid={"problem.m0": st["m0s"], "network.m": st["ms"]},
                         trials=st["trials"], name="success", seed=0,
                         seeds={"problem": "trial", "init": "fixed", "run": "fixed"}),
    }


def protocol(quick):
    return {"cutoff": K, "noise": NOISE, "reg": REG, "mass": TAU, "dt": DT,
            "spikes": [list(s) for s in SPIKES], "m_example": M_EXAMPLE,
            "position_rates": RATES, "fr_rate": 1.0, "init": "grid, alternating signs",
            "certificate_tol": 1e-2, "gap_levels": list(GAP_LEVELS), **settings(quick)}


def _time_to(t, gap, level):
    below = np.flatnonzero(gap <= level)
    return float(t[below[0]]) if below.size else None


def curves(tables, quick):
    from ...analysis.deconvolution import certificate, polish, recovery
    from ...dynamics.simulation import Simulation

    st = settings(quick)
    out = []
    tg = tables["geometry"]
    finals, polished, series, sims = {}, {}, {}, {}
    for i, geo in enumerate(tg.column("integrator.geometry")):
        with tg.run(i) as run:
            sim = Simulation.from_run(run, restart=True)
            theta = np.asarray(run.checkpoint()["theta"], dtype=np.float64)
            start = np.asarray(run.frame(0), dtype=np.float64)
            _, t, obj = run.observable("objective")
        finals[geo], series[geo], sims[geo] = theta, (np.asarray(t), np.asarray(obj)), sim
        polished[geo] = sim.problem.objective(polish(theta, sim.oracle).theta)
        c = curve(f"{geo}: final masses c_i / m against positions", theta[:, 1],
                  theta[:, 0] / theta.shape[0])
        c.update(panel="trajectory", geometry=geo, start_positions=start[:, 1].tolist(),
                 start_masses=(start[:, 0] / start.shape[0]).tolist())
        pos, mass, stray = recovery(theta, SPIKES, K)
        cert = certificate(theta, sim.problem)
        c["recovery"] = {"position_error": pos, "mass_error": mass, "stray_mass": stray}
        c["certificate"] = {"value": cert["value"], "ratio": cert["ratio"],
                            "classification": cert["classification"]}
        out.append(c)
    j_star = min(polished.values())
    times = {}
    for geo, (t, obj) in series.items():
        gap = obj - j_star
        levels = [lv * (obj[0] - j_star) for lv in GAP_LEVELS]
        times[geo] = [_time_to(t, gap, lv) for lv in levels]
        keep = t > 0
        c = curve(f"{geo}: J(t) - J*", t[keep], gap[keep])
        c.update(panel="gap", geometry=geo, j_star=j_star, levels=levels,
                 times_to_levels=times[geo], polished_objective=polished[geo])
        out.append(c)
    ts = tables["success"]
    ms, m0s = ts.column("network.m"), ts.column("problem.m0")
    ok = np.zeros(len(ts), dtype=bool)
    for i in range(len(ts)):
        with ts.run(i) as run:
            prob = run.problem()
            theta = np.asarray(run.checkpoint()["theta"], dtype=np.float64)
        ok[i] = certificate(theta, prob)["classification"] == "global"
    for m0 in st["m0s"]:
        rate, se = [], []
        for m in st["ms"]:
            sel = (ms == m) & (m0s == m0)
            p = float(ok[sel].mean())
            rate.append(p)
            se.append(float(np.sqrt(p * (1 - p) / max(sel.sum(), 1))))
        c = curve(f"m0 = {m0} spikes", st["ms"], rate, se)
        c.update(panel="success", m0=int(m0), std_is="binomial standard error",
                 trials=st["trials"])
        out.append(c)
    return out


def checks(data):
    traj = {c["geometry"]: c for c in data["curves"] if c["panel"] == "trajectory"}
    gap = {c["geometry"]: c for c in data["curves"] if c["panel"] == "gap"}
    succ = [c for c in data["curves"] if c["panel"] == "success"]
    out = []
    w = traj["wfr"]
    r = w["recovery"]
    out.append(check("WFR recovers the example's spikes (positions within 5e-3, masses within "
                     "5 %, stray mass below 1 %) and the certificate says global",
                     r["position_error"] < 5e-3 and r["mass_error"] < 0.05
                     and r["stray_mass"] < 0.01 and w["certificate"]["classification"] == "global",
                     {**{k: round(v, 6) for k, v in r.items()},
                      "ratio": round(w["certificate"]["ratio"], 6)}))
    t_end = data["protocol"]["t_end"]
    table = {}
    for k, lv in enumerate(GAP_LEVELS):
        tw, ts = gap["wfr"]["times_to_levels"][k], gap["wasserstein"]["times_to_levels"][k]
        table[f"{lv:g}"] = {"wfr": tw, "wasserstein": ts if ts is not None else f"> {t_end:g}",
                            "speedup": round((ts if ts is not None else t_end) / tw, 2)
                            if tw else None}
    tw, ts = gap["wfr"]["times_to_levels"][1], gap["wasserstein"]["times_to_levels"][1]
    out.append(check("WFR brings the objective gap below 1e-4 (J(0) - J*) sooner than "
                     "Wasserstein (times to 1e-2, 1e-4 and 1e-6 of the initial gap listed)",
                     tw is not None and (ts is None or tw < ts), table))
    out.append(check("the objective falls along both flows",
                     all(c["mean"][-1] < c["mean"][0] for c in gap.values()),
                     {g: [c["mean"][0], c["mean"][-1]] for g, c in gap.items()}))
    out.append(check("success grows with m: at the largest m at least 0.75 for every m0, and "
                     "above the smallest m's",
                     all(c["mean"][-1] >= 0.75 and c["mean"][-1] > c["mean"][0] for c in succ),
                     {c["m0"]: c["mean"] for c in succ}))
    return out


def draw(data, tables):
    import matplotlib.pyplot as plt

    from ...viz.measure import draw_truth, measure_xy, unwrap_breaks
    from ...viz.plotting import frame_indices, sign_colors

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.2), layout="constrained")
    spikes = np.asarray(SPIKES)
    tg = tables["geometry"]
    geos = list(tg.column("integrator.geometry"))
    top = 1.15 * float(np.abs(spikes[:, 1]).max())
    for ax, geo in zip(axes[0], ("wfr", "wasserstein")):
        with tg.run(geos.index(geo)) as run:
            idx = frame_indices(run.times, 60)
            thetas = [np.asarray(th, dtype=np.float64) for _, _, th in run.iter_frames(idx)]
        xy = np.stack([measure_xy(t) for t in thetas])
        last = thetas[-1]
        colors = sign_colors(last[:, 0])
        xs = unwrap_breaks(xy[:, :, 0])
        for i in range(xy.shape[1]):
            ax.plot(xs[:, i], xy[:, i, 1], color=colors[i], lw=0.7, alpha=0.6)
        cmax = float(np.abs(last[:, 0]).max()) or 1.0
        ax.scatter(xy[-1, :, 0], xy[-1, :, 1], c=colors,
                   s=4 + 116 * np.abs(last[:, 0]) / cmax, edgecolor="k", linewidth=0.3,
                   zorder=4, label="end (area ~ |c|)")
        draw_truth(ax, spikes)
        c = next(c for c in data["curves"] if c["panel"] == "trajectory" and c["geometry"] == geo)
        rec, cert = c["recovery"], c["certificate"]
        ax.set_xlim(0, 1)
        ax.set_ylim(-top, top)
        ax.set_xlabel("position p on the torus")
        ax.set_ylabel("mass c_i / m")
        name = "Wasserstein-Fisher-Rao" if geo == "wfr" else "Wasserstein"
        ax.set_title(f"(i) {name} (lr_a = {RATES[geo]:g}), t = 0 .. {data['protocol']['t_end']:g}"
                     f"\nsup|V|/reg = {cert['ratio']:.4f} ({cert['classification']}), stray "
                     f"mass {rec['stray_mass']:.2%}", fontsize="medium")
        ax.legend(fontsize="x-small", loc="lower right")
    ax = axes[1][0]
    for k, c in enumerate(c for c in data["curves"] if c["panel"] == "success"):
        ax.errorbar(c["x"], c["mean"], yerr=c["std"], fmt="o-", ms=4, capsize=2,
                    color=f"C{k}", label=c["label"])
    ms = data["protocol"]["ms"]
    ax.set_xscale("log")
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.minorticks_off()
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("m (particles)")
    ax.set_ylabel("success rate (certificate: global)")
    ax.set_title(f"(ii) WFR, {data['protocol']['trials']} spike draws per point "
                 "(bars: binomial standard error)", fontsize="medium")
    ax.legend(fontsize="x-small", loc="lower right")
    ax = axes[1][1]
    for k, c in enumerate(c for c in data["curves"] if c["panel"] == "gap"):
        t, g = np.asarray(c["x"]), np.asarray(c["mean"])
        keep = g > 0
        tl = c["times_to_levels"][1]
        label = c["label"] + (f"; below 1e-4 x gap(0) at t = {tl:.3g}" if tl is not None
                              else "; never below 1e-4 x gap(0)")
        ax.loglog(t[keep], g[keep], color=f"C{k}", lw=1.2, label=label)
        if k == 0:
            for lv in c["levels"]:
                ax.axhline(lv, color="0.5", ls=":", lw=0.8)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("objective gap J(t) - J*")
    ax.set_title("(iii) objective gap, J* the smaller polished objective\n(dotted: 1e-2, "
                 "1e-4, 1e-6 x gap(0))", fontsize="medium")
    ax.legend(fontsize="x-small", loc="lower left")
    for ax in axes.ravel():
        ax.grid(True, which="both", alpha=0.3)
    p = data["protocol"]
    fig.suptitle(f"{TITLE} (cutoff {p['cutoff']}, noise {p['noise']:g}, reg {p['reg']:g}"
                 + (", quick" if data["quick"] else "") + ")", fontsize="medium")
    return fig
