"""Time to a gradient norm of 1e-10 from the end of the default run: Euler alone, Euler
then L-BFGS, Euler then Newton (particles.analysis.optimality.polish).

    python -m benchmarks polish [--quick]

The gradient norm is the root mean square of the mean-field velocity,
sqrt((1/m) sum_i |v_i|^2). Euler continues with the run's own step and stops at the
target or at the time budget (60 s, 20 s with --quick), whichever comes first.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .common import machine, markdown, save

TARGET = 1e-10


def _grad_norm(oracle, theta):
    _, v = oracle.velocity(theta)
    return math.sqrt(float(np.sum(v.astype(np.float64) ** 2)) / theta.shape[0])


def polish_benchmark(quick=False, log=print):
    import particles as pt
    from particles.cli import DEFAULT_CONFIG
    from particles.analysis.optimality import for_simulation, polish

    cfg = pt.load_toml(DEFAULT_CONFIG)
    sim = pt.Simulation(cfg)
    t = time.perf_counter()
    res = sim.run(keep=False)
    run_s = time.perf_counter() - t
    theta = res.theta
    oracle = for_simulation(sim)["oracle"]
    g_end = _grad_norm(oracle, theta)
    log(f"default run: {res.step} Euler steps in {run_s:.2f} s, gradient {g_end:.3g}")
    budget = 20.0 if quick else 60.0
    # Euler alone, from the end of the run
    integ = pt.FixedStep("euler", oracle, cfg.integrator.dt)
    state = pt.State(theta.copy())
    g = g_end
    t = time.perf_counter()
    steps = 0
    while g > TARGET and time.perf_counter() - t < budget:
        integ.advance(state, 20000)
        steps += 20000
        g = _grad_norm(oracle, state.theta)
    euler_s = time.perf_counter() - t
    rows = [{"method": "Euler (dt = 0.05) alone", "seconds": euler_s, "gradient": g,
             "reached": g <= TARGET, "work": f"{steps} steps"}]
    log(f"Euler: {g:.3g} after {steps} more steps, {euler_s:.1f} s")
    for method in ("lbfgs", "newton"):
        polish(theta, oracle, method=method, gtol=TARGET)  # warm-up (compiled already)
        t = time.perf_counter()
        pol = polish(theta, oracle, method=method, gtol=TARGET)
        sec = time.perf_counter() - t
        rows.append({"method": f"Euler then {'L-BFGS' if method == 'lbfgs' else 'Newton'}",
                     "seconds": sec, "gradient": pol.grad_norm,
                     "reached": pol.grad_norm <= TARGET,
                     "work": f"{pol.iterations} iterations, {pol.nfev} gradients"})
        log(f"{method}: {pol.grad_norm:.3g} in {sec:.2f} s")
    payload = {"machine": machine(), "quick": quick, "target": TARGET,
               "run": {"steps": res.step, "seconds": run_s, "gradient": g_end},
               "rows": rows}
    table = (f"Default run (m = 32, d = 2, exact oracle), then from its end state to a "
             f"gradient norm of {TARGET:g} (root mean square of the mean-field velocity; "
             f"gradient at the end of the run {g_end:.3g}; Euler budget {budget:g} s):\n\n"
             + markdown(rows, ["method", "seconds", "gradient", "reached", "work"]))
    print("wrote", *save("polish-quick" if quick else "polish", payload, table))
    return payload
