"""Convergence as m grows: how a run with m particles approaches the mean-field limit.

    python -m benchmarks convergence [--quick]

The m-scaling figure (particles/experiments/figures/m_scaling.py: the protocol, the measures and
the expected slopes), run on the sweep engine: every run is an HDF5 file in
``results/convergence[-quick]/runs-m/`` and ``runs-reference/``, each with an
``index.h5`` (external links and the parameter table). Written here: the figure's
JSON and PNG under the benchmark's name, and a markdown table.
"""
from __future__ import annotations

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def settings(quick):
    from particles.experiments.figures import m_scaling

    return m_scaling.settings(quick)


def convergence(quick=False, out_dir=None, log=print, workers=None):
    from particles.experiments.figures import make

    out_dir = out_dir or os.path.join(HERE, "results")
    name = "convergence-quick" if quick else "convergence"
    run_dir = os.path.join(out_dir, name)
    data = make("m-scaling", run_dir, quick=quick, workers=workers, progress=False,
                log=lambda *a: None)
    for ext in ("json", "png"):
        shutil.copyfile(os.path.join(run_dir, f"m-scaling.{ext}"),
                        os.path.join(out_dir, f"{name}.{ext}"))
    gap, fd, w2 = data["curves"]
    p = data["protocol"]
    lines = [f"# Convergence as m grows ({'quick' if quick else 'full'} run)", "",
             f"d = {p['d']}, ReLU teacher m0 = {p['m0']}, exact oracle, Euler dt = {p['dt']}, "
             f"horizon t = {p['t_end']}, {p['trials']} trials per m, reference m = "
             f"{p['m_ref']} ({p['ref_trials']} runs), W2 {p['w2']}; "
             f"{data['seconds']:.0f} s on {data['executor']}. Runs: {name}/runs-m/index.h5.",
             "", "| m | risk gap to the fitted limit (+- se) | f-distance (+- sd) | W2 (+- sd) |",
             "|---|---|---|---|"]
    for k, m in enumerate(gap["x"]):
        lines.append(f"| {int(m)} | {gap['mean'][k]:.3g} +- {gap['std'][k]:.2g} | "
                     f"{fd['mean'][k]:.3g} +- {fd['std'][k]:.2g} | "
                     f"{w2['mean'][k]:.3g} +- {w2['std'][k]:.2g} |")
    lines += ["", "| quantity | fitted slope | 95% interval | expected |", "|---|---|---|---|"]
    expected = {"risk_gap": -1.0, "function_distance": -0.5}
    fits = {}
    for c, key in ((gap, "risk_gap"), (fd, "function_distance"), (w2, "w2")):
        f = c.get("fit")
        if f:
            fits[key] = f
            lines.append(f"| {key} | {f['slope']:.2f} | [{f['slope_low']:.2f}, "
                         f"{f['slope_high']:.2f}] | {expected.get(key, 'not stated')} |")
    with open(os.path.join(out_dir, f"{name}.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    log("\n".join(lines))
    summary = dict(data, fits=fits)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    return summary
