"""Convergence as m grows: how a run with m particles approaches the mean-field limit.

    python -m benchmarks convergence [--quick]

A teacher-student problem (exact oracle, ReLU, Gaussian inputs) is run to a fixed
horizon for a grid of m and several seeds, plus a reference at the largest m. Every
run is an HDF5 file; an index file links them (external links) with a parameter
table. Measured:

* the risk at fixed times vs m (mean over seeds and its spread) and the gap of the
  seed-averaged risk to the reference, with a fitted log-log slope (docs/theory.md,
  "Identities the tests check", expects about -1);
* one run's distance to the limit: the L2 distance between the network functions
  f_m and f_ref on held-out inputs (expected slope about -1/2) and the
  2-Wasserstein distance between the particle clouds (exact, by assignment, when
  sizes divide each other; sliced for the largest ones), with fitted slopes and 95 %
  confidence intervals.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def settings(quick):
    if quick:
        return {"ms": [16, 32, 64, 128, 256], "seeds": 6, "m_ref": 1024, "ref_seeds": 2,
                "t_end": 4.0, "dt": 0.02, "d": 5}
    return {"ms": [16, 32, 64, 128, 256, 512], "seeds": 48, "m_ref": 4096,
            "ref_seeds": 3, "t_end": 4.0, "dt": 0.02, "d": 5}


def convergence(quick=False, out_dir=None, log=print):
    import h5py

    import particles as pt
    from particles import analysis, problems

    st = settings(quick)
    out_dir = out_dir or os.path.join(HERE, "results")
    run_dir = os.path.join(out_dir, "convergence-quick" if quick else "convergence")
    os.makedirs(run_dir, exist_ok=True)
    times = tuple(np.round(np.geomspace(st["t_end"] / 16, st["t_end"], 5), 6))

    def config(m, seed):
        # one teacher for every run (its stream comes from the problem seed below)
        return pt.Config(problem=pt.ProblemConfig(d=st["d"], m0=3),
                         network=pt.NetworkConfig(m=m),
                         init=pt.InitConfig(tau=0.8),
                         integrator=pt.IntegratorConfig(dt=st["dt"], t_end=st["t_end"]),
                         record=pt.RecordConfig(schedule="times", times=times), seed=seed)

    teacher = problems.teacher_student(st["d"], 3, rng=np.random.default_rng(12345))
    rows = []
    finals = {}
    t0 = time.perf_counter()
    grid = [(m, s) for m in st["ms"] for s in range(st["seeds"])]
    grid += [(st["m_ref"], 1000 + s) for s in range(st["ref_seeds"])]
    for m, seed in grid:
        path = os.path.join(run_dir, f"m{m}-seed{seed}.h5")
        if os.path.exists(path):
            os.remove(path)
        res = pt.run(config(m, seed), path, problem=teacher)
        risk = res.observables["risk"]
        rows.append({"m": m, "seed": seed, "path": os.path.basename(path),
                     "risk_at": dict(zip(map(float, res.obs_times), map(float, risk)))})
        finals[(m, seed)] = res.theta
    log(f"{len(grid)} runs in {time.perf_counter() - t0:.1f} s")
    # the index: external links and a parameter table
    index = os.path.join(run_dir, "index.h5")
    with h5py.File(index, "w") as f:
        runs = f.create_group("runs")
        for r in rows:
            runs[f"m{r['m']}-seed{r['seed']}"] = h5py.ExternalLink(r["path"], "/")
        f.create_dataset("table/m", data=[r["m"] for r in rows])
        f.create_dataset("table/seed", data=[r["seed"] for r in rows])
        f.create_dataset("table/final_risk",
                         data=[r["risk_at"][max(r["risk_at"])] for r in rows])
        f.create_dataset("table/path", data=np.array([r["path"] for r in rows], dtype="S"))
        f.attrs["settings"] = json.dumps(st)
    # risk at fixed times
    t_last = max(rows[0]["risk_at"])
    summary = {"settings": st, "times": list(rows[0]["risk_at"]), "by_m": []}
    ref = [r for r in rows if r["m"] == st["m_ref"]]
    ref_risk = {t: float(np.mean([r["risk_at"][t] for r in ref])) for t in summary["times"]}
    rng = np.random.default_rng(7)
    Xtest = problems.sample_inputs(rng, 4000, st["d"])
    ref_thetas = [finals[(st["m_ref"], 1000 + s)] for s in range(st["ref_seeds"])]
    for m in st["ms"]:
        mine = [r for r in rows if r["m"] == m]
        ent = {"m": m}
        for t in summary["times"]:
            vals = np.array([r["risk_at"][t] for r in mine])
            ent[f"risk_mean@{t:g}"] = float(vals.mean())
            ent[f"risk_sd@{t:g}"] = float(vals.std(ddof=1))
        vals = np.array([r["risk_at"][t_last] for r in mine])
        ent["gap"] = float(vals.mean() - ref_risk[t_last])
        ent["gap_se"] = float(vals.std(ddof=1) / np.sqrt(vals.size))
        fd, w2 = [], []
        for s in range(st["seeds"]):
            th = finals[(m, s)]
            fd.append(analysis.function_distance(th, ref_thetas[0], Xtest))
            if st["m_ref"] <= 1024:
                w2.append(analysis.w2_exact(th, ref_thetas[0]))
            else:
                w2.append(analysis.sliced_w2(th, ref_thetas[0], 256, rng))
        ent["function_distance"] = float(np.mean(fd))
        ent["w2"] = float(np.mean(w2))
        summary["by_m"].append(ent)
    summary["w2_kind"] = "exact (assignment)" if st["m_ref"] <= 1024 else "sliced (256 directions)"
    # the reference's own function fluctuation sets the floor of the distances
    if st["ref_seeds"] > 1:
        summary["reference_function_distance"] = analysis.function_distance(
            ref_thetas[0], ref_thetas[1], Xtest)
    ms = np.array(st["ms"], dtype=float)
    by = summary["by_m"]
    fits = {}
    gaps = np.array([e["gap"] for e in by])
    if np.sum(gaps > 0) >= 3:
        fits["risk_gap"] = analysis.fit_loglog(ms[gaps > 0], gaps[gaps > 0])
    fits["function_distance"] = analysis.fit_loglog(ms, [e["function_distance"] for e in by])
    fits["w2"] = analysis.fit_loglog(ms, [e["w2"] for e in by])
    summary["fits"] = fits
    summary["expected"] = {"risk_gap": -1.0, "function_distance": -0.5}
    name = "convergence-quick" if quick else "convergence"
    with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    lines = [f"# Convergence as m grows ({'quick' if quick else 'full'} run)", "",
             f"d = {st['d']}, ReLU teacher m0 = 3, exact oracle, Euler dt = {st['dt']}, "
             f"horizon t = {st['t_end']}, {st['seeds']} seeds per m, reference m = "
             f"{st['m_ref']} ({st['ref_seeds']} seeds). Index: {os.path.relpath(index, out_dir)}.",
             "", "| m | risk at t_end (mean +- sd) | gap to reference | f-distance | W2 |",
             "|---|---|---|---|---|"]
    for e in by:
        lines.append(f"| {e['m']} | {e[f'risk_mean@{t_last:g}']:.4g} +- "
                     f"{e[f'risk_sd@{t_last:g}']:.2g} | {e['gap']:.3g} +- {e['gap_se']:.2g} | "
                     f"{e['function_distance']:.3g} | {e['w2']:.3g} |")
    lines += ["", "| quantity | fitted slope | 95% interval | expected |", "|---|---|---|---|"]
    for k, f in fits.items():
        lines.append(f"| {k} | {f['slope']:.2f} | [{f['slope_low']:.2f}, {f['slope_high']:.2f}] "
                     f"| {summary['expected'].get(k, 'not stated')} |")
    with open(os.path.join(out_dir, f"{name}.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    plot(summary, os.path.join(out_dir, f"{name}.png"))
    log("\n".join(lines))
    return summary


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = summary["by_m"]
    ms = np.array([e["m"] for e in by], dtype=float)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    for t in summary["times"]:
        axes[0].errorbar(ms, [e[f"risk_mean@{t:g}"] for e in by],
                         yerr=[e[f"risk_sd@{t:g}"] for e in by], marker="o", ms=3,
                         label=f"t = {t:g}")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_title("risk at fixed times (mean, sd over seeds)", fontsize="small")
    axes[0].legend(fontsize="x-small")
    for ax, key, label in ((axes[1], "gap", "seed-averaged risk gap"),
                           (axes[2], "function_distance", "one run's L2 distance")):
        vals = np.array([e[key] for e in by])
        keep = vals > 0
        ax.loglog(ms[keep], vals[keep], "o", label=label)
        fit = summary["fits"].get("risk_gap" if key == "gap" else key)
        if fit:
            ax.loglog(ms, np.exp(fit["intercept"]) * ms ** fit["slope"], "-",
                      label=f"slope {fit['slope']:.2f} [{fit['slope_low']:.2f}, "
                            f"{fit['slope_high']:.2f}]")
        if key == "function_distance":
            w2 = np.array([e["w2"] for e in by])
            f2 = summary["fits"]["w2"]
            ax.loglog(ms, w2, "s", label=f"W2 ({summary['w2_kind']})")
            ax.loglog(ms, np.exp(f2["intercept"]) * ms ** f2["slope"], "--",
                      label=f"W2 slope {f2['slope']:.2f}")
        ax.set_title(label, fontsize="small")
        ax.legend(fontsize="x-small")
    for ax in axes:
        ax.set_xlabel("m")
        ax.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
