"""The lazy regime, measured: the empirical tangent kernel against the matmul rate, and
the lazy rates in alpha over several seeds.

    python -m benchmarks lazy [--quick]

* Empirical NTK: n1 = n2 = 2000 inputs, m = 2000 neurons, d = 100 (1000 / 1000 / 100
  with --quick), relu with bias. Its arithmetic is 4 n1 n2 m (two Gram products)
  + 2 n1 n2 d + 2 (n1 + n2) m d flops; the rate is that over the median time, against
  numpy's large-matmul rate measured in the same process. Target: at least 50 %.
* Lazy-training criterion: ``particles.lazy.criterion`` at m = 10 000 neurons, d = 100,
  n = 1000 probes (relu and tanh; m = 2000 with --quick), wall time of one call (target:
  seconds) with the tolerances it reached.
* Lazy rates: the experiment of tests/test_lazy.py::test_lazy_rates_in_alpha (erf, 20
  neurons, 200 points in d = 2, symmetric initialisation, t = 1, alpha = 4 .. 64) for
  5 seeds (3 with --quick); log-log slopes of |w - w0|, |w - w_bar| and the predictor gap
  with their mean and a 95 % confidence interval (Student t over seeds).
"""
from __future__ import annotations

import math

import numpy as np

from .common import machine, markdown, matmul_gflops, median_time, save


def ntk_rate(n=2000, m=2000, d=100, log=print):
    from particles.lazy import empirical_ntk

    rng = np.random.default_rng(0)
    theta = rng.standard_normal((m, d + 2))
    x1, x2 = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    sec = median_time(lambda: empirical_ntk(theta, x1, x2, bias=True), repeat=5,
                      min_time=0.5)
    flops = 4.0 * n * n * m + 2.0 * n * n * d + 2.0 * (2 * n) * m * d
    gemm = matmul_gflops()
    rate = flops / sec / 1e9
    log(f"empirical NTK n1 = n2 = {n}, m = {m}, d = {d}: {sec:.3f} s, {rate:.1f} GFLOP/s, "
        f"matmul {gemm:.1f} GFLOP/s: {rate / gemm:.0%}")
    return {"n1": n, "n2": n, "m": m, "d": d, "seconds": sec, "gflops": rate,
            "matmul_gflops": gemm, "fraction_of_matmul": rate / gemm,
            "target": 0.5, "met": rate / gemm >= 0.5}


def rate_slopes(seed, alphas=(4.0, 8.0, 16.0, 32.0, 64.0)):
    import particles as pt
    from particles.lazy import predictor_gap

    rng = np.random.default_rng(100 + seed)
    X = rng.standard_normal((200, 2))
    y = np.maximum(X @ rng.standard_normal(2), 0) - np.maximum(X @ rng.standard_normal(2), 0)
    data = pt.dataset(X, y)
    move, split, gap = [], [], []
    for alpha in alphas:
        cfg = pt.Config(problem=pt.ProblemConfig(kind="dataset", d=2),
                        network=pt.NetworkConfig(m=20, alpha=alpha, activation="erf"),
                        init=pt.InitConfig(symmetric=True, seed=seed),
                        oracle=pt.OracleConfig(kind="dataset"),
                        integrator=pt.IntegratorConfig(method="heun", dt=0.005, t_end=1.0),
                        record=pt.RecordConfig(frames=2, kernel_probes=0))
        full = pt.simulate(cfg, problem=data)
        lin = pt.simulate(cfg.replace(network=cfg.network.replace(model="tangent")),
                          problem=data)
        move.append(np.linalg.norm(full.theta - full.theta0))
        split.append(np.linalg.norm(full.theta - lin.theta))
        gap.append(predictor_gap(full.frames[-1:], lin.frames[-1:], X, alpha=alpha,
                                 activation="erf", theta0=full.theta0)[0])
    la = np.log(alphas)
    return [float(np.polyfit(la, np.log(v), 1)[0]) for v in (move, split, gap)]


# two-sided 97.5 % quantiles of Student's t (degrees of freedom 1..9)
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262]


def criterion_cost(m=10_000, d=100, n=1000, log=print):
    import time

    from particles.lazy import criterion

    rng = np.random.default_rng(0)
    theta = rng.standard_normal((m, d + 2)) / math.sqrt(d)
    theta[:, -1] = 0.0
    x = rng.standard_normal((n, d))
    y = np.maximum(x[:, 0], 0.0)
    rows = []
    for act in ("relu", "tanh"):
        t = time.perf_counter()
        crit = criterion(theta, x, y, activation=act)
        sec = time.perf_counter() - t
        log(f"criterion {act}, m = {m}, d = {d}, n = {n}: {sec:.2f} s, kappa {crit.kappa:.4g}")
        rows.append({"activation": act, "m": m, "d": d, "n": n, "seconds": sec,
                     "kappa": crit.kappa, "jacobian_tol": crit.jacobian_tol,
                     "hessian_tol": crit.hessian_tol, "hessian_spread": crit.hessian_spread})
    return rows


def lazy_benchmark(quick=False, log=print, out_dir=None):
    ntk = ntk_rate(*((1000, 1000, 100) if quick else (2000, 2000, 100)), log=log)
    crit = criterion_cost(m=2000 if quick else 10_000, log=log)
    seeds = 3 if quick else 5
    slopes = np.array([rate_slopes(s) for s in range(seeds)])
    names = ("norm(w - w0)", "norm(w - w_bar)", "rms(f - f_bar)")
    theory = (-1.0, -2.0, -2.0)
    rows = []
    for k, name in enumerate(names):
        mean = float(slopes[:, k].mean())
        half = _T975[seeds - 2] * float(slopes[:, k].std(ddof=1)) / math.sqrt(seeds)
        rows.append({"quantity": name, "slope": mean, "ci95": f"[{mean - half:.3f}, "
                     f"{mean + half:.3f}]", "expected": theory[k],
                     "per seed": ", ".join(f"{v:.3f}" for v in slopes[:, k])})
        log(f"slope of {name}: {mean:.3f} +- {half:.3f} (expected {theory[k]})")
    table = ("## Empirical tangent kernel\n\n"
             + markdown([ntk], ["n1", "n2", "m", "d", "seconds", "gflops", "matmul_gflops",
                                "fraction_of_matmul", "met"])
             + "\n## Lazy-training criterion kappa(w0), one call\n\n"
             + markdown(crit, ["activation", "m", "d", "n", "seconds", "kappa", "jacobian_tol",
                               "hessian_tol", "hessian_spread"])
             + "\n## Lazy rates in alpha (log-log slopes, 95 % confidence intervals over "
             f"{seeds} seeds)\n\n"
             + markdown(rows, ["quantity", "slope", "ci95", "expected", "per seed"])
             + "\nThe predictor gap is O(1/alpha^2) from the symmetric initialisation (its "
             "second-order term cancels between the two neurons of each pair; "
             "docs/lazy.md, \"Lazy rates\").\n")
    name = "lazy-quick" if quick else "lazy"
    paths = save(name, {"machine": machine(), "ntk": ntk, "criterion": crit, "slopes": rows},
                 table, out_dir)
    log(f"wrote {paths[0]} and {paths[1]}")
    return ntk, rows
