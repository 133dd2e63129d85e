"""Time to a gradient norm of 1e-10 from the end of the default run: Euler alone, Euler
then L-BFGS, Euler then Newton (particles.analysis.optimality.polish).

    python -m benchmarks polish [--quick]

The gradient norm is the root mean square of the mean-field velocity,
sqrt((1/m) sum_i |v_i|^2). Euler continues with the run's own step and stops at the
target or at the time budget (60 s, 20 s with --quick), whichever comes first.

It also says why L-BFGS stops short of the target (:func:`diagnose`): at its end state,
the spectrum of the Hessian (dense, by central differences of the exact gradient) in
bands, the share of the squared gradient in each band, the decrease of the risk that a
Newton step would bring there (sum g_k^2 / (2 lambda_k)), and the rounding of the risk
(its spread under perturbations too small to change it). L-BFGS compares risk values in
its line search; it stalls when its steps, dominated by the stiff part of the gradient,
can only gain less than that rounding, while what is left sits in flat directions.
Newton steps judged by the gradient norm (``method="newton"``) do not need the values.
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


BANDS = ((0.0, 1e-8), (1e-8, 1e-5), (1e-5, 1e-3), (1e-3, math.inf))


def diagnose(theta, oracle, seed=0):
    """Why a polish stalls at ``theta``: Hessian bands, gradient shares and the risk's
    rounding.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    oracle : particles.oracles.base.Oracle
        Deterministic.

    Returns
    -------
    dict
        ``bands``: a list of {"eigenvalues", "count", "gradient share",
        "Newton decrease"} (|lambda| below 1e-8 counts as flat: no decrease is
        attributed to it); ``risk``, ``risk rounding`` (standard deviation of the risk
        under 20 perturbations of norm 1e-9, whose first-order change is below 1e-18),
        ``known zero modes`` and ``free coordinates``.
    """
    from particles.analysis.optimality import Objective, zero_modes

    obj = Objective(oracle, theta, bias=False)
    x = obj.x0
    n = x.size
    g = obj.grad(x)
    H = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        H[:, j] = obj.hessp(x, e)
    lam, U = np.linalg.eigh((H + H.T) / 2)
    gc = U.T @ g
    total = float(np.sum(gc ** 2))
    bands = []
    for lo, hi in BANDS:
        sel = (np.abs(lam) < hi) if lo == 0 else ((lam >= lo) & (lam < hi))
        dec = 0.0 if lo == 0 else float(np.sum(gc[sel] ** 2 / (2 * lam[sel])))
        bands.append({"eigenvalues": f"[{lo:g}, {hi:g})" if lo else f"(-{hi:g}, {hi:g})",
                      "count": int(sel.sum()), "gradient share": float(np.sum(gc[sel] ** 2)
                                                                       / total),
                      "Newton decrease": dec})
    rng = np.random.default_rng(seed)
    r0 = obj.risk(x)
    noise = float(np.std([obj.risk(x + 1e-9 * rng.standard_normal(n) / math.sqrt(n)) - r0
                          for _ in range(20)]))
    activation = oracle.activation
    return {"bands": bands, "risk": float(r0), "risk rounding": noise,
            "known zero modes": int(zero_modes(obj.full(x), obj.mask, activation).shape[1]),
            "free coordinates": int(n), "eigenvalue range": [float(lam[0]), float(lam[-1])]}


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
        if method == "lbfgs":
            why = diagnose(pol.theta, oracle)
    payload = {"machine": machine(), "quick": quick, "target": TARGET,
               "run": {"steps": res.step, "seconds": run_s, "gradient": g_end},
               "rows": rows, "lbfgs_end": why}
    table = (f"Default run (m = 32, d = 2, exact oracle), then from its end state to a "
             f"gradient norm of {TARGET:g} (root mean square of the mean-field velocity; "
             f"gradient at the end of the run {g_end:.3g}; Euler budget {budget:g} s):\n\n"
             + markdown(rows, ["method", "seconds", "gradient", "reached", "work"])
             + "\n\nWhy L-BFGS stops where it does: at its end state (risk "
             f"{why['risk']:.3g}, rounding of the risk {why['risk rounding']:.2g}; "
             f"{why['free coordinates']} free coordinates, {why['known zero modes']} known "
             "zero modes: ReLU rescalings and splits between parallel neurons), the Hessian's "
             "eigenvalues by band, the share of the squared gradient in each and the risk "
             "decrease a Newton step would bring there:\n\n"
             + markdown(why["bands"], ["eigenvalues", "count", "gradient share",
                                       "Newton decrease"])
             + "\n\nThe stiff bands hold most of the gradient but a decrease far below the "
             "risk's rounding, so L-BFGS's line search, which compares risk values, sees "
             "no progress; what is left of the risk sits in the nearly flat directions "
             "(eigenvalues between 1e-8 and 1e-5: particles gathered on one teacher neuron, "
             "whose spread changes the network only at second order), where a quasi-Newton "
             "model built from a few dozen steps is poor. The band around 0 holds the exact "
             "zero modes and no decrease. Newton steps judged by the gradient norm "
             + (f"reach the target ({rows[2]['gradient']:.2g})." if rows[2]["reached"] else
                f"get to {rows[2]['gradient']:.2g}."))
    print("wrote", *save("polish-quick" if quick else "polish", payload, table))
    return payload
