"""The convex baseline: random features with the output weights solved exactly.

Freeze the hidden layer (a_i, b_i) at given positions (typically the random
initialisation) and choose the output weights c by least squares on the population
risk. With s = alpha_eff / m, G_ij = E[sigma_i sigma_j] and h_i = E[sigma_i y]
(sigma_i = sigma(a_i . x + b_i), y the teacher), the risk
R(c) = (s^2 c.G c)/2 - s c.h + E[y^2]/2 is minimised by s c = G^+ h, with

    R* = E[y^2]/2 - h.G^+ h / 2.

For Gaussian inputs (and sphere inputs with bias-free relu or leaky relu) G, h and
E[y^2] are the exact oracle's pair integrals in closed form (or its adaptive
quadrature for sigmoid, tanh, softplus), so R* has no sampling error. The
pseudo-inverse drops eigenvalues of G below ``rcond`` times the largest, and R* is
evaluated again through the exact oracle at the solution, so the value reported is the
risk of an actual network.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ConvexResult:
    """What :func:`random_features` returns.

    Attributes
    ----------
    theta : ndarray, shape (m, d + 2)
        The frozen hidden layer with the optimal output weights in column 0.
    risk : float
        Population risk at ``theta`` (exact oracle).
    rank : int
        Numerical rank of the Gram matrix G.
    gram_condition : float
        Largest over smallest kept eigenvalue of G.
    """

    theta: np.ndarray
    risk: float
    rank: int
    gram_condition: float

    def report(self):
        """The JSON-friendly summary (dict; without the particles)."""
        return {"risk": self.risk, "rank": self.rank, "gram_condition": self.gram_condition}


def random_features(problem, theta, *, activation="relu", bias=False, alpha=1.0, leak=0.01,
                    quad_nodes=384, rcond=1e-12):
    """Best output weights for a frozen hidden layer, on the exact population risk.

    Parameters
    ----------
    problem : particles.Problem
        A teacher-student problem the exact oracle applies to (squared loss).
    theta : array_like, shape (m, d + 2)
        The hidden layer is read from columns 1..d + 1 (column 0 is ignored).
    activation, bias, alpha, leak
        The student (``alpha``: effective output scale).
    quad_nodes : int
        Quadrature budget for sigmoid, tanh and softplus.
    rcond : float
        Relative cutoff of the pseudo-inverse of G.

    Returns
    -------
    ConvexResult

    Examples
    --------
    >>> import numpy as np, particles as pt
    >>> from particles.analysis.convex import random_features
    >>> prob = pt.teacher_student(5, 2, rng=np.random.default_rng(0))
    >>> theta = pt.initialize(np.random.default_rng(1), 40, 5)
    >>> res = random_features(prob, theta)
    >>> bool(res.risk < pt.exact_oracle(prob, 40).risk(theta))
    True
    """
    from ..registry import activation_code
    from ..oracles.exact import gaussian_rules
    from ..oracles.exact import exact_oracle, input_scale, pair_moments

    theta = np.array(theta, dtype=np.float64)
    d = problem.d
    if theta.ndim != 2 or theta.shape[1] != d + 2 or theta.shape[0] < 1:
        raise ValueError(f"theta has shape {theta.shape}; allowed: (m, {d + 2})")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta contains NaN or Inf; allowed: finite values only")
    if not (isinstance(rcond, float) and 0 < rcond < 1):
        raise ValueError(f"rcond={rcond!r} is invalid; allowed: a float in (0, 1)")
    oracle = exact_oracle(problem, theta.shape[0], activation=activation, bias=bias,
                          alpha=alpha, leak=leak, quad_nodes=quad_nodes)
    m = theta.shape[0]
    code = activation_code(activation)
    rules = gaussian_rules(quad_nodes)
    bias_any = bool(bias or problem.teacher_bias)
    if not bias:
        theta[:, d + 1] = 0.0
    hidden = theta[:, 1:]
    teacher = np.asarray(problem.teacher, dtype=np.float64)
    scale = input_scale(problem)
    G = scale * pair_moments(code, leak, bias_any, hidden, hidden, rules)
    h = scale * pair_moments(code, leak, bias_any, hidden, teacher[:, 1:], rules) @ teacher[:, 0]
    from .._numba.threads import pool_owner

    with pool_owner():  # one BLAS thread: the same numbers on any machine and executor
        lam, V = np.linalg.eigh(0.5 * (G + G.T))
    keep = lam > rcond * max(lam.max(), 0.0)
    w = V[:, keep] @ ((V[:, keep].T @ h) / lam[keep])  # s c = G^+ h
    theta[:, 0] = w * m / alpha
    risk = oracle.risk(np.ascontiguousarray(theta))
    cond = float(lam[keep].max() / lam[keep].min()) if keep.any() else float("inf")
    return ConvexResult(theta=theta, risk=float(risk), rank=int(keep.sum()),
                        gram_condition=cond)
