"""Sparse deconvolution: the exact oracle against a NumPy closed form, and the cost of a
Wasserstein-Fisher-Rao step against a Wasserstein one.

    python -m benchmarks deconvolution [--quick]

* Oracle rows (m = 100, 1000, 10 000; cutoff K = 20): the compiled oracle (data term and
  velocity, O(m K)) against the same closed form in NumPy (the Fourier sums as matrix
  products with cos/sin tables), timed alternately in one process; medians of 7 batches
  (3 with --quick). The ratio NumPy / compiled is the speed-up.
* Step rows (m = 100 and 10 000 on the deconvolution problem; m = 1000 on the sampled
  network problem d = 10, n = 1000): ``advance`` of the conic step (geometry "wfr")
  against the same problem's Wasserstein step, alternating. Target: at most 1.1x.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from .common import machine, markdown, save

K = 20
ORACLE_SIZES = (100, 1000, 10_000)


def _problem():
    import particles as pt

    return pt.deconvolution([0.12, 0.31, 0.55, 0.83], [1.0, -0.8, 0.6, -1.2], cutoff=K,
                            noise=0.01, reg=0.1, seed=0)


def numpy_velocity(theta, yc, ys, cutoff):
    """The closed form of the oracle in NumPy (what a user would write)."""
    m = theta.shape[0]
    ang = 2 * np.pi * np.multiply.outer(theta[:, 1], np.arange(cutoff + 1))
    cos, sin = np.cos(ang), np.sin(ang)
    dc = theta[:, 0] @ cos / m - yc
    ds = theta[:, 0] @ sin / m - ys
    k = np.arange(cutoff + 1)
    value = float(np.sum(np.where(k == 0, 0.5, 1.0) * (dc * dc + ds * ds)))
    two = np.where(k == 0, 1.0, 2.0)  # the k and -k terms of V
    V = cos @ (two * dc) + sin @ (two * ds)
    dV = 2 * np.pi * (cos @ (two * k * ds) - sin @ (two * k * dc))
    out = np.zeros_like(theta)
    out[:, 0] = -V
    out[:, 1] = -theta[:, 0] * dV
    return value, out


def _time(fn, repeat, min_time):
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t >= min_time or n >= 1 << 16:
            break
        n *= 2
    return n


def oracle_rows(repeat, min_time, log):
    import particles as pt

    prob = _problem()
    rows = []
    for m in ORACLE_SIZES:
        rng = np.random.default_rng(m)
        theta = np.zeros((m, 3))
        theta[:, 0] = rng.standard_normal(m)
        theta[:, 1] = rng.random(m)
        oracle = pt.deconvolution_oracle(prob, m)
        out = np.empty_like(theta)
        v_ref = numpy_velocity(theta, prob.yc, prob.ys, K)
        r, v = oracle.velocity(theta, out)
        err = float(np.abs(v - v_ref[1]).max() / np.abs(v_ref[1]).max())
        fns = (lambda: oracle.velocity(theta, out),
               lambda: numpy_velocity(theta, prob.yc, prob.ys, K))
        n = _time(fns[0], repeat, min_time)
        times = [[], []]
        for _ in range(repeat):
            for k, fn in enumerate(fns):
                t = time.perf_counter()
                for _ in range(n):
                    fn()
                times[k].append((time.perf_counter() - t) / n)
        comp, nump = (statistics.median(t) for t in times)
        row = {"case": f"oracle m={m} K={K}", "compiled s/call": comp, "numpy s/call": nump,
               "speed-up": nump / comp, "max rel. difference": err}
        log(f"{row['case']}: compiled {comp * 1e6:.1f} us, numpy {nump * 1e6:.1f} us, "
            f"speed-up {nump / comp:.1f}x (difference {err:.1e})")
        rows.append(row)
    return rows


def _step_sim(case, geometry):
    import particles as pt
    from particles.config import from_dict

    if case["problem"] == "deconvolution":
        cfg = from_dict({"problem": {"kind": "deconvolution", "d": 1, "cutoff": K,
                                     "spikes": [[0.12, 1.0], [0.31, -0.8], [0.55, 0.6],
                                                [0.83, -1.2]], "noise": 0.01, "reg": 0.1},
                         "network": {"m": case["m"]}, "init": {"scheme": "grid", "tau": 0.01},
                         "integrator": {"geometry": geometry, "dt": 0.01, "t_end": 1e4,
                                        "lr_a": 1e-5}})
        return pt.Simulation(cfg)
    cfg = pt.Config(problem=pt.ProblemConfig(d=10, m0=3),
                    network=pt.NetworkConfig(m=case["m"]),
                    oracle=pt.OracleConfig(kind="sampled", n=1000),
                    integrator=pt.IntegratorConfig(dt=1e-3, t_end=1e4, geometry=geometry),
                    record=pt.RecordConfig(kernel_probes=0))
    return pt.Simulation(cfg)


STEP_CASES = [
    {"case": "deconvolution m=100 K=20", "problem": "deconvolution", "m": 100},
    {"case": "deconvolution m=10000 K=20", "problem": "deconvolution", "m": 10_000},
    {"case": "sampled network d=10 m=1000 n=1000", "problem": "network", "m": 1000},
]


def step_rows(repeat, min_time, log):
    from particles._numba.threads import default_threads, pool_owner

    rows = []
    for case in STEP_CASES:
        sims = [_step_sim(case, "wasserstein"), _step_sim(case, "wfr")]
        states = [s.new_state() for s in sims]
        with pool_owner(default_threads(sims[0].oracle)):
            for s, st in zip(sims, states):
                s.integrator.advance(st, 2)
            steps = _time(lambda: sims[0].integrator.advance(states[0], 1), repeat, min_time)
            times = [[], []]
            for _ in range(repeat):
                for k in (0, 1):
                    t = time.perf_counter()
                    sims[k].integrator.advance(states[k], steps)
                    times[k].append((time.perf_counter() - t) / steps)
        w, c = (statistics.median(t) for t in times)
        row = {"case": case["case"], "wasserstein s/step": w, "wfr s/step": c,
               "ratio": c / w, "target": 1.1, "met": c / w <= 1.1}
        log(f"{row['case']}: wasserstein {w * 1e6:.1f} us, wfr {c * 1e6:.1f} us per step, "
            f"ratio {c / w:.3f} (target <= 1.1: {'met' if row['met'] else 'MISSED'})")
        rows.append(row)
    return rows


def deconvolution_benchmark(quick=False, out_dir=None, log=print):
    repeat, min_time = (3, 0.05) if quick else (7, 0.3)
    orows = oracle_rows(repeat, min_time, log)
    srows = step_rows(repeat, min_time, log)
    table = (markdown(orows, ["case", "compiled s/call", "numpy s/call", "speed-up",
                              "max rel. difference"]) + "\n\n"
             + markdown(srows, ["case", "wasserstein s/step", "wfr s/step", "ratio", "target",
                                "met"]))
    name = "deconvolution-quick" if quick else "deconvolution"
    save(name, {"machine": machine(), "oracle": orows, "steps": srows}, table, out_dir)
    return orows, srows
