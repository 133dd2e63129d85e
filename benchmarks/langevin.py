"""The cost of the noise: a Langevin (Euler-Maruyama) step against a noiseless one.

    python -m benchmarks langevin [--quick]

For each case one simulation is built twice, at T = 0 and at T = 0.01 (weight decay
0.01), and ``advance`` is timed on chunks of steps inside the run's thread pool,
alternating the two (medians of 7 batches; 3 with --quick). The ratio noisy / noiseless
is the number that matters; the normals are drawn inside the compiled loop, one per
trained coordinate per step. Targets: at most 1.15x for sampled d = 100, m = 1000
(n = 1000 inputs) and at most 1.5x for sampled d = 2, n = 1000, m = 100; the online
oracle (noisy SGD, d = 100, m = 1000, batch 100) and the exact oracle (d = 2, m = 100)
are reported too.
"""
from __future__ import annotations

import statistics
import time

from .common import machine, markdown, save

CASES = [
    {"case": "sampled d=100 m=1000 n=1000", "kind": "sampled", "d": 100, "m": 1000,
     "target": 1.15},
    {"case": "sampled d=2 m=100 n=1000", "kind": "sampled", "d": 2, "m": 100, "target": 1.5},
    {"case": "online (sgd) d=100 m=1000 batch=100", "kind": "online", "d": 100, "m": 1000,
     "target": None},
    {"case": "exact d=2 m=100", "kind": "exact", "d": 2, "m": 100, "target": None},
]


def _sim(case, temperature):
    import particles as pt

    online = case["kind"] == "online"
    cfg = pt.Config(problem=pt.ProblemConfig(d=case["d"], m0=3),
                    network=pt.NetworkConfig(m=case["m"]),
                    oracle=pt.OracleConfig(kind=case["kind"], n=1000, batch=100,
                                           n_monitor=0 if online else 10000),
                    integrator=pt.IntegratorConfig(method="sgd" if online else "euler",
                                                   dt=1e-3, t_end=1e3, weight_decay=0.01,
                                                   temperature=temperature),
                    record=pt.RecordConfig(kernel_probes=0))
    return pt.Simulation(cfg)


def _per_step(sim, state, steps):
    t = time.perf_counter()
    sim.integrator.advance(state, steps)
    return (time.perf_counter() - t) / steps


def measure(case, repeat=7, min_time=0.3):
    """Median seconds per step without and with noise, and their ratio."""
    from particles._numba.threads import default_threads, pool_owner

    sims = [_sim(case, 0.0), _sim(case, 0.01)]
    states = [s.new_state() for s in sims]
    with pool_owner(default_threads(sims[0].oracle)):
        for s, st in zip(sims, states):  # compile and warm up
            s.integrator.advance(st, 2)
        steps = 1
        while _per_step(sims[0], states[0], steps) * steps < min_time and steps < 1 << 16:
            steps *= 2
        times = [[], []]
        for _ in range(repeat):
            for k in (0, 1):
                times[k].append(_per_step(sims[k], states[k], steps))
    quiet, noisy = (statistics.median(t) for t in times)
    ratios = [b / a for a, b in zip(*times)]
    return {"case": case["case"], "steps per batch": steps, "noiseless s/step": quiet,
            "noisy s/step": noisy, "ratio": noisy / quiet,
            "ratio (median of pairs)": statistics.median(ratios),
            "target": case["target"],
            "met": None if case["target"] is None else noisy / quiet <= case["target"]}


def langevin_benchmark(quick=False, out_dir=None, log=print):
    rows = []
    for case in CASES:
        row = measure(case, repeat=3 if quick else 7, min_time=0.1 if quick else 0.3)
        log(f"{row['case']}: {row['noiseless s/step'] * 1e6:.1f} us -> "
            f"{row['noisy s/step'] * 1e6:.1f} us per step, ratio {row['ratio']:.3f}"
            + ("" if row["target"] is None else
               f" (target <= {row['target']}: {'met' if row['met'] else 'MISSED'})"))
        rows.append(row)
    table = markdown(rows, ["case", "noiseless s/step", "noisy s/step", "ratio",
                            "ratio (median of pairs)", "target", "met"])
    name = "langevin-quick" if quick else "langevin"
    save(name, {"machine": machine(), "rows": rows}, table, out_dir)
    return rows
