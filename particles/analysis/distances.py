"""Analysis of particle clouds and runs: Wasserstein distances, m-scaling fits.

A cloud is an (m, k) array of particles with uniform weights 1/m (the empirical
measure of the network). Distances between clouds of different sizes compare the
measures, not the particles.
"""
from __future__ import annotations

import math

import numpy as np


def w2_exact(x, y):
    """Exact 2-Wasserstein distance between two uniform clouds.

    Parameters
    ----------
    x : ndarray, shape (m, k)
    y : ndarray, shape (M, k)
        The larger size must be a multiple of the smaller one: each point of the
        smaller cloud is then split into M/m equal atoms and the optimal plan is a
        permutation, found by :func:`scipy.optimize.linear_sum_assignment` (O(M^3)).
        For other sizes use :func:`w2_pot` (POT, optional) or :func:`sliced_w2`.

    Returns
    -------
    float
    """
    from scipy.optimize import linear_sum_assignment

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"clouds must be (m, k) arrays with the same k; got {x.shape} and "
                         f"{y.shape}")
    if x.shape[0] > y.shape[0]:
        x, y = y, x
    m, big = x.shape[0], y.shape[0]
    if big % m:
        raise ValueError(f"sizes {m} and {big}: the larger must be a multiple of the "
                         "smaller for w2_exact; allowed otherwise: w2_pot or sliced_w2")
    xr = np.repeat(x, big // m, axis=0)
    cost = ((xr[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    return math.sqrt(cost[rows, cols].mean())


def w2_pot(x, y):
    """Exact 2-Wasserstein distance for any sizes with POT (``pip install pot``).

    Parameters
    ----------
    x : ndarray, shape (n, D)
    y : ndarray, shape (k, D)
        Two clouds, uniform weights each.

    Returns
    -------
    float
    """
    try:
        import ot
    except ImportError:
        raise ImportError("w2_pot needs POT (pip install pot); w2_exact handles sizes that "
                          "divide each other, sliced_w2 any sizes") from None
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    b = np.full(y.shape[0], 1.0 / y.shape[0])
    return math.sqrt(ot.emd2(a, b, ot.dist(x, y)))


def sliced_w2(x, y, n_proj=256, rng=None):
    """Sliced 2-Wasserstein distance (Monte Carlo over random directions).

    sqrt(E_theta W2^2(<theta, x>, <theta, y>)) with theta uniform on the sphere; each
    1-D distance is exact (quantile functions of uniform clouds of any sizes).
    A lower bound of W2 computed in O(n_proj (m + M) log(m + M)).

    Parameters
    ----------
    x, y : ndarray, shapes (m, k) and (M, k)
    n_proj : int
    rng : numpy.random.Generator
        Required (no global random state).
    """
    if rng is None:
        raise ValueError("rng is required (a numpy Generator)")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    theta = rng.standard_normal((x.shape[1], n_proj))
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    px = np.sort(x @ theta, axis=0)
    py = np.sort(y @ theta, axis=0)
    m, big = px.shape[0], py.shape[0]
    # breakpoints of both quantile functions
    u = np.union1d(np.arange(m + 1) / m, np.arange(big + 1) / big)
    mid = 0.5 * (u[1:] + u[:-1])
    w = np.diff(u)
    ix = np.minimum((mid * m).astype(int), m - 1)
    iy = np.minimum((mid * big).astype(int), big - 1)
    d2 = (w[:, None] * (px[ix] - py[iy]) ** 2).sum(0)
    return math.sqrt(d2.mean())


def fit_loglog(x, y, level=0.95):
    """Least-squares fit of log y = slope log x + b, with a confidence interval.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positive values (non-positive or non-finite pairs are left out; n >= 3 kept).
    level : float
        Confidence level of the interval.

    Returns
    -------
    dict
        slope, intercept, slope_low, slope_high (the ``level`` interval from the
        t-distribution with n - 2 degrees of freedom), stderr, n.
    """
    from scipy import stats

    lx = np.log(np.asarray(x, dtype=np.float64))
    ly = np.log(np.asarray(y, dtype=np.float64))
    keep = np.isfinite(lx) & np.isfinite(ly)
    lx, ly = lx[keep], ly[keep]
    n = lx.size
    if n < 3:
        raise ValueError(f"fit_loglog needs at least 3 positive points, got {n}")
    res = stats.linregress(lx, ly)
    t = stats.t.ppf(0.5 + level / 2, n - 2)
    return {"slope": float(res.slope), "intercept": float(res.intercept),
            "slope_low": float(res.slope - t * res.stderr),
            "slope_high": float(res.slope + t * res.stderr), "stderr": float(res.stderr),
            "n": int(n)}


def fit_power_offset(x, y, se, level=0.95):
    """Weighted least-squares fit of y = y_inf + C x^slope, with a confidence interval.

    For a statistic whose limit ``y_inf`` is itself unknown (the risk of the
    mean-field limit, approached by every m): the limit is fitted with the power law
    instead of taken from one reference, so the reference's own bias and noise are
    accounted for, and each point weighs by its standard error.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positive abscissae (m) and the means at them (n >= 4).
    se : array_like, shape (n,)
        Standard errors of the means (> 0); they are taken as known (absolute).
    level : float
        Confidence level of the interval.

    Returns
    -------
    dict
        slope, slope_low, slope_high (the ``level`` interval, normal quantile on the
        standard error from the fit's covariance), stderr, y_inf and its stderr
        (``y_inf_stderr``), coefficient (C), chi2 and dof (n - 3: a chi2 / dof far
        above 1 says the model or the standard errors do not fit), n.
    """
    from scipy import optimize, stats

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    if not (x.shape == y.shape == se.shape and x.ndim == 1):
        raise ValueError(f"x, y and se must be 1-D arrays of one length; got shapes "
                         f"{x.shape}, {y.shape}, {se.shape}")
    if x.size < 4:
        raise ValueError(f"fit_power_offset needs at least 4 points, got {x.size}")
    if not (np.all(np.isfinite(x) & (x > 0)) and np.all(np.isfinite(y))
            and np.all(np.isfinite(se) & (se > 0))):
        raise ValueError("fit_power_offset needs finite y, positive x and positive "
                         "standard errors")
    # start: the largest x as the limit, a log-log slope through the rest
    lo = np.argsort(x)
    y_inf0 = float(y[lo[-1]])
    gap = y[lo[:-1]] - y_inf0
    ok = gap > 0
    if ok.sum() >= 2:
        slope0, icpt0 = np.polyfit(np.log(x[lo[:-1]][ok]), np.log(gap[ok]), 1)
    else:
        slope0, icpt0 = -1.0, np.log(max(abs(float(y[lo[0]]) - y_inf0), 1e-300))
    u = x / np.exp(np.mean(np.log(x)))  # scaled abscissa: a well-conditioned C

    def model(u, y_inf, c, p):
        return y_inf + c * u ** p

    c0 = float(np.exp(icpt0)) * np.exp(np.mean(np.log(x))) ** slope0
    try:
        popt, pcov = optimize.curve_fit(model, u, y, p0=(y_inf0, c0, slope0), sigma=se,
                                        absolute_sigma=True, maxfev=20000)
    except RuntimeError as exc:
        raise ValueError(f"fit_power_offset did not converge: {exc}") from None
    y_inf, c, p = (float(v) for v in popt)
    sp = float(np.sqrt(pcov[2, 2]))
    z = float(stats.norm.ppf(0.5 + level / 2))
    r = (y - model(u, *popt)) / se
    return {"slope": p, "slope_low": p - z * sp, "slope_high": p + z * sp, "stderr": sp,
            "y_inf": y_inf, "y_inf_stderr": float(np.sqrt(pcov[0, 0])),
            "coefficient": c / np.exp(np.mean(np.log(x))) ** p,
            "chi2": float(np.sum(r * r)), "dof": int(x.size - 3), "n": int(x.size)}


def function_distance(theta_a, theta_b, X, activation="relu", alpha=1.0, leak=0.01):
    """sqrt(mean_k (f_a(x_k) - f_b(x_k))^2): L2 distance of two networks on inputs X.

    Parameters
    ----------
    theta_a, theta_b : array_like, shapes (m_a, d + 2), (m_b, d + 2)
        Two mean-field networks (each scaled by alpha / its own m).
    X : array_like, shape (n, d)
    activation : str
    alpha, leak : float

    Returns
    -------
    float
    """
    from ..model.network import forward

    X = np.ascontiguousarray(X, dtype=np.float64)
    fa = forward(theta_a, X, activation=activation, bias=True, leak=leak,
                 scale=alpha / np.shape(theta_a)[0])
    fb = forward(theta_b, X, activation=activation, bias=True, leak=leak,
                 scale=alpha / np.shape(theta_b)[0])
    return float(np.sqrt(np.mean((fa - fb) ** 2)))


def relative_distance(run):
    """How far a run moved from its start, relative to the start, at every record.

    The observable "distance", sqrt((1/m) sum_i |theta_i - theta0_i|^2), divided by
    sqrt((1/m) sum_i |theta0_i|^2).

    Parameters
    ----------
    run : particles.io.Run

    Returns
    -------
    (times, values) : two ndarrays of shape (K,), or None
        None when the run records no distance or starts from theta0 = 0.
    """
    if "distance" not in run.observable_names:
        return None
    scale = float(np.sqrt(np.mean(np.sum(np.asarray(run.theta0, float) ** 2, axis=1))))
    if scale <= 0:
        return None
    _, t, v = run.observable("distance")
    return t, v / scale
