"""Optimality of a measure on the torus: the deconvolution certificate and polish.

J(mu) = 1/2 ||Phi mu - y||^2 + lam |mu|(T) is convex in mu, and mu is a global minimiser
iff its first variation V(p) = <Phi mu - y, psi(. - p)> satisfies |V(p)| <= lam for every
p, with V = -lam sign(c) on the support (Chizat & Bach 2018; Bredies & Pikkarainen
2013). The certificate computes sup_p |V(p)| exactly up to rounding: V is a
trigonometric polynomial of degree K, scanned on a grid of 64 K points and refined by
Newton's method on V' at the best local maxima. For lam = 0 it compares the value with
``tol`` times sup |V| at the empty measure (sup |Phi* y|): the value must go to 0.

Polish minimises J over the particles with their signs fixed: on that orthant the
penalty is linear, lam (1/m) sum_i s_i c_i, so L-BFGS-B with the bounds s_i c_i >= 0 solves
the problem exactly (a mass that reaches 0 stays there; a mass already 0 is frozen).
"""
from __future__ import annotations

import math

import numpy as np

#: grid points per unit of cutoff in the certificate's scan
GRID_PER_CUTOFF = 64
#: relative tolerance of the certificate's global verdict
TOL = 1e-2


def sup_first_variation(fv, grid=None, refine=16):
    """sup_p |V(p)| of a first variation, with the maximiser.

    Parameters
    ----------
    fv : particles.model.deconvolution.FirstVariation
    grid : int, optional
        Scan points (default 64 K, at least 1024).
    refine : int
        Local maxima of |V| on the grid refined by Newton's method on V'.

    Returns
    -------
    value : float
    position : float
        In [0, 1).
    """
    K = fv.cutoff
    n = grid or max(1024, GRID_PER_CUTOFF * K)
    p = np.arange(n) / n
    a = np.abs(fv(p))
    peaks = np.flatnonzero((a >= np.roll(a, 1)) & (a >= np.roll(a, -1)))
    peaks = peaks[np.argsort(-a[peaks])][:refine]
    best_val, best_p = float(a.max()), float(p[int(np.argmax(a))])
    for i in peaks:
        x = p[i]
        for _ in range(30):
            d1, d2 = float(fv.derivative(x, 1)), float(fv.derivative(x, 2))
            if d2 == 0:
                break
            step = d1 / d2
            if abs(step) > 1.0 / n:  # stay in the grid cell's neighbourhood
                break
            x -= step
            if abs(step) < 1e-15:
                break
        v = abs(float(fv(x)))
        if v > best_val:
            best_val, best_p = v, float(x % 1.0)
    return best_val, best_p


def certificate(theta, problem, tol=TOL, grid=None):
    """The global-optimality certificate of a measure on the torus.

    Parameters
    ----------
    theta : array_like, shape (m, 3)
        Particles (c | p | 0).
    problem : particles.model.deconvolution.Deconvolution
    tol : float
        Relative tolerance: global iff sup |V| <= lam (1 + tol) (lam > 0), or
        sup |V| <= tol sup |Phi* y| (lam = 0).
    grid : int, optional
        Scan points (default 64 K).

    Returns
    -------
    dict
        ``value`` (sup |V|), ``position`` (the maximiser), ``sign`` (of V there),
        ``reg``, ``threshold`` (what the value is compared with), ``ratio``
        (value / lam, or value / sup |Phi* y|), ``classification`` ("global" or "not
        global"), ``support_gap`` (max over the particles that hold mass, |c_i| >= 1e-3 max |c|,
        of |V(p_i) + lam s_i|: the other optimality condition), ``objective``, ``risk`` (the data term).
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol={tol!r} is invalid; allowed: a finite number >= 0")
    from ..model.deconvolution import FirstVariation

    t = np.asarray(theta, dtype=np.float64)
    fv = problem.first_variation(t)
    value, where = sup_first_variation(fv, grid)
    lam = problem.reg
    if lam > 0:
        threshold, scale = lam * (1 + tol), lam
    else:
        scale = sup_first_variation(FirstVariation(-problem.yc, -problem.ys), grid)[0]
        threshold = tol * scale
    # the support: particles holding mass (dying ones, |c| < 1e-3 max |c|, are leaving it)
    alive = np.abs(t[:, 0]) >= 1e-3 * np.max(np.abs(t[:, 0])) if t.size else t[:, 0] != 0
    alive &= t[:, 0] != 0
    gap = float(np.max(np.abs(fv(t[alive, 1]) + lam * np.sign(t[alive, 0])))) if alive.any() \
        else 0.0
    return {"value": value, "position": where, "sign": 1.0 if fv(where) >= 0 else -1.0,
            "reg": lam, "threshold": threshold, "ratio": value / scale if scale > 0 else 0.0,
            "classification": "global" if value <= threshold else "not global",
            "support_gap": gap, "objective": problem.objective(t), "risk": problem.data_term(t),
            "tol": tol, "kind": "deconvolution"}


def recovery(theta, spikes, cutoff):
    """How well a measure recovers spikes.

    Parameters
    ----------
    theta : array_like, shape (m, 3)
    spikes : array_like, shape (m0, 2)
        Rows (p_k, w_k).
    cutoff : int
        The particles within 1 / (2 cutoff) of a spike, with its sign, make it up.

    Returns
    -------
    position_error, mass_error, stray : float
        The worst |mass-weighted position - p_k|, the worst |mass / w_k - 1|, and the
        fraction of the total variation farther than 1 / (2 cutoff) from every spike
        (1, 1, 1 when a spike has no particle of its sign nearby).
    """
    theta = np.asarray(theta, dtype=np.float64)
    m = theta.shape[0]
    pos_err = mass_err = 0.0
    near_any = np.zeros(m, dtype=bool)
    for p, w in spikes:
        off = ((theta[:, 1] - p + 0.5) % 1.0) - 0.5
        near = np.abs(off) < 0.5 / cutoff
        near_any |= near
        same = near & (np.sign(theta[:, 0]) == np.sign(w))
        total = theta[same, 0].sum()
        if total == 0:
            return 1.0, 1.0, 1.0
        pos_err = max(pos_err, abs(float(np.sum(theta[same, 0] * off[same]) / total)))
        mass_err = max(mass_err, abs(total / m / w - 1))
    stray = float(np.abs(theta[~near_any, 0]).sum() / max(np.abs(theta[:, 0]).sum(), 1e-300))
    return float(pos_err), float(mass_err), stray


def polish(theta, oracle, *, gtol=1e-13, maxiter=20000, lr=(1.0, 1.0, 1.0)):
    """Minimise J over the particles with their signs fixed (L-BFGS-B, bounds s_i c_i >= 0).

    Parameters
    ----------
    theta : array_like, shape (m, 3)
    oracle : particles.oracles.deconvolution.DeconvolutionOracle
    gtol : float
        Target root mean square of the projected mean-field velocity.
    maxiter : int
    lr : sequence of 3 floats
        A zero rate freezes its column (masses: lr_c, positions: lr_a).

    Returns
    -------
    particles.analysis.optimality.PolishResult
    """
    import scipy.optimize

    from .reports import PolishResult

    t = np.array(theta, dtype=np.float64, copy=True)
    m = t.shape[0]
    lam = oracle.reg
    sign = np.sign(t[:, 0])
    free = np.zeros(t.shape, dtype=bool)
    free[:, 0] = lr[0] > 0
    free[:, 1] = lr[1] > 0
    if not free.any():
        raise ValueError("every layer is frozen (lr = 0 for c and a); nothing to polish")
    v = np.empty_like(t, dtype=oracle.dtype)
    work = np.empty_like(t, dtype=oracle.dtype)
    count = [0]

    def full(x):
        out = t.copy()
        out[free] = x
        return out

    def fun_grad(x):
        th = full(x)
        work[...] = th
        risk, _ = oracle.velocity(work, v)
        count[0] += 1
        g = -v.astype(np.float64) / m
        g[:, 0] += lam * sign / m
        return risk + lam * float(np.mean(np.abs(th[:, 0]))), g[free]

    def projected(x):
        _, g = fun_grad(x)
        gf = np.zeros(t.shape)
        gf[free] = g
        th = full(x)
        # at a bound (c = 0) only the inward part of the gradient counts
        at0 = (th[:, 0] == 0) & (sign * gf[:, 0] > 0)
        gf[at0, 0] = 0.0
        gf[sign == 0, 0] = 0.0
        return float(m * np.linalg.norm(gf) / math.sqrt(m))

    bounds = []
    for i, j in zip(*np.nonzero(free)):
        if j == 0:
            bounds.append((0.0, None) if sign[i] > 0 else (None, 0.0) if sign[i] < 0
                          else (0.0, 0.0))
        else:
            bounds.append((None, None))
    x0 = t[free]
    g0 = projected(x0)
    ginf = gtol / math.sqrt(m) / math.sqrt(x0.size)
    res = scipy.optimize.minimize(fun_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options={"maxiter": maxiter, "maxcor": 50, "ftol": 0.0,
                                           "gtol": ginf, "maxls": 50})
    out = full(res.x)
    out[:, 1] %= 1.0
    risk = float(oracle.risk(np.ascontiguousarray(out, dtype=oracle.dtype)))
    return PolishResult(theta=out.astype(oracle.dtype), risk=risk, grad_norm=projected(res.x),
                        grad_norm0=g0, method="lbfgs", iterations=int(res.nit),
                        nfev=count[0], message=str(res.message))
