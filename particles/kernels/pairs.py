"""Gaussian expectations over one pair of neurons (compiled scalar kernels).

For x ~ N(0, I_d) the pre-activations z = a.x + b and z' = a'.x + b' are jointly
Gaussian with means (mu1, mu2) = (b, b'), standard deviations (s1, s2) = (|a|, |a'|)
and correlation rho = a.a' / (|a| |a'|). Every function here returns the four
expectations the exact oracle needs (docs/theory.md, "Exact population integrals"):

    A0  = E[sigma(z)   sigma(z')]
    A1  = E[sigma'(z)  sigma(z')]     (= d A0 / d mu1)
    A20 = E[sigma''(z) sigma(z')]     (= 2 d A0 / d s11, Price's theorem)
    A11 = E[sigma'(z)  sigma'(z')]    (= d A0 / d s12)

from which, by Stein's lemma, grad_a E[sigma(z) sigma(z')] = A20 a + A11 a' and
d/db E[sigma(z) sigma(z')] = A1.

Sources: ReLU without bias, the degree-1 arc-cosine kernel (Cho & Saul 2009, halved);
ReLU with bias, truncated bivariate normal moments (derived in docs/theory-notes.md and
checked by Monte Carlo in tests); erf, Williams (1997) and, with bias, the identity
erf(z) = 2 Phi(sqrt(2) z) - 1 which turns E[erf erf] into a bivariate normal CDF;
other smooth activations, 2-D quadrature (trapezoidal rule with Gaussian weights,
exponentially convergent for analytic activations).
"""
import math

import numpy as np

from . import activations as act
from .._numba.jit import inline, jit
from .bvn import bvn_cdf, bvn_upper, norm_cdf, norm_pdf

_TWO_PI = 2.0 * math.pi
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
# Standard deviations below this are treated as this (a neuron with a = 0 exactly).
_TINY = 1e-150


@inline
def _phi_ratio(num, r):
    # Phi(num / r) with the r -> 0 limit (rho = +-1) taken exactly.
    if r > 0.0:
        return norm_cdf(num / r)
    if num > 0.0:
        return 1.0
    if num < 0.0:
        return 0.0
    return 0.5


@inline
def _r_pdf_ratio(num, r):
    # r * phi(num / r), which tends to 0 as r -> 0.
    if r > 0.0:
        return r * norm_pdf(num / r)
    return 0.0


@inline
def _x_pdf(x):
    # x * phi(x) without inf * 0 for huge |x|.
    if abs(x) > 40.0:
        return 0.0
    return x * norm_pdf(x)


@jit
def relu_arccos_both(s1, s2, rho):
    """:func:`relu_pair_both` without bias: the arc-cosine closed form.

    Parameters
    ----------
    s1, s2 : float
        Standard deviations |a|, |a'| (>= 0).
    rho : float
        Correlation in [-1, 1].

    Returns
    -------
    (A0, A11, A20, A20', A1, A1')
        As :func:`relu_pair_both` with ``mu1 = mu2 = 0``.
    """
    s1 = max(s1, _TINY)
    s2 = max(s2, _TINY)
    rho = min(max(rho, -1.0), 1.0)
    r = math.sqrt(max((1.0 - rho) * (1.0 + rho), 0.0))
    theta = math.atan2(r, rho)
    pt = (math.pi - theta) / _TWO_PI
    a0 = s1 * s2 * (r + (math.pi - theta) * rho) / _TWO_PI
    half = (1.0 + rho) * 0.5 * _INV_SQRT_2PI
    q = r / _TWO_PI
    return a0, pt, q * s2 / s1, q * s1 / s2, s2 * half, s1 * half


@jit
def relu_pair_both(mu1, mu2, s1, s2, rho, bias):
    """ReLU pair expectations for both orders from one bivariate CDF evaluation.

    Returns
    -------
    (A0, A11, A20, A20', A1, A1')
        The primed ones swap the roles of z and z': A20' = E[sigma''(z') sigma(z)],
        A1' = E[sigma'(z') sigma(z)] (A0 and A11 are symmetric).

    Parameters
    ----------
    mu1, mu2 : float
        Means of z and z' (the biases).
    s1, s2 : float
        Standard deviations |a|, |a'| (>= 0).
    rho : float
        Correlation in [-1, 1].
    bias : bool
        False selects the arc-cosine closed form (mu1 = mu2 = 0 assumed).
    """
    if not bias:
        return relu_arccos_both(s1, s2, rho)
    s1 = max(s1, _TINY)
    s2 = max(s2, _TINY)
    rho = min(max(rho, -1.0), 1.0)
    r = math.sqrt(max((1.0 - rho) * (1.0 + rho), 0.0))
    h = mu1 / s1
    k = mu2 / s2
    p = bvn_upper(-h, -k, rho)
    u = k - rho * h
    v = h - rho * k
    fu = _phi_ratio(u, r)
    fv = _phi_ratio(v, r)
    ph = norm_pdf(h)
    pk = norm_pdf(k)
    rpu = _r_pdf_ratio(u, r)
    rpv = _r_pdf_ratio(v, r)
    ex = ph * fu + rho * pk * fv
    ey = pk * fv + rho * ph * fu
    exy = -rho * _x_pdf(h) * fu + ph * rpu + rho * p - rho * _x_pdf(k) * fv
    a0 = mu1 * mu2 * p + mu1 * s2 * ey + mu2 * s1 * ex + s1 * s2 * exy
    a20 = ph / s1 * s2 * (u * fu + rpu)
    a20r = pk / s2 * s1 * (v * fv + rpv)
    return a0, p, a20, a20r, mu2 * p + s2 * ey, mu1 * p + s1 * ex


@jit
def relu_pair(mu1, mu2, s1, s2, rho, bias):
    """(A0, A1, A20, A11) for sigma = relu (see :func:`relu_pair_both`)."""
    a0, a11, a20, _, a1, _ = relu_pair_both(mu1, mu2, s1, s2, rho, bias)
    return a0, a1, a20, a11


@jit
def leaky_pair_both(mu1, mu2, s1, s2, rho, bias, leak):
    """Leaky ReLU expectations for both orders, as sums of four ReLU terms.

    sigma(z) = relu(z) - leak * relu(-z), so E[sigma^(p)(z) sigma^(q)(z')] is the sum
    over signs s, t of w_s w_t s^p t^q E[relu^(p)(s z) relu^(q)(t z')] with
    w_+ = 1, w_- = -leak; (s z, t z') has means (s mu1, t mu2) and correlation s t rho.
    Returns (A0, A11, A20, A20', A1, A1') as :func:`relu_pair_both`.
    """
    a0 = 0.0
    a11 = 0.0
    a20 = 0.0
    a20r = 0.0
    a1 = 0.0
    a1r = 0.0
    for si in range(2):
        sg = 1.0 if si == 0 else -1.0
        ws = 1.0 if si == 0 else -leak
        for ti in range(2):
            tg = 1.0 if ti == 0 else -1.0
            wt = 1.0 if ti == 0 else -leak
            b0, b11, b20, b20r, b1, b1r = relu_pair_both(sg * mu1, tg * mu2, s1, s2,
                                                         sg * tg * rho, bias)
            w = ws * wt
            a0 += w * b0
            a11 += w * sg * tg * b11
            a20 += w * b20
            a20r += w * b20r
            a1 += w * sg * b1
            a1r += w * tg * b1r
    return a0, a11, a20, a20r, a1, a1r


@jit
def leaky_pair(mu1, mu2, s1, s2, rho, bias, leak):
    """(A0, A1, A20, A11) for leaky relu (see :func:`leaky_pair_both`)."""
    a0, a11, a20, _, a1, _ = leaky_pair_both(mu1, mu2, s1, s2, rho, bias, leak)
    return a0, a1, a20, a11


@jit
def erf_pair_both(mu1, mu2, s1, s2, rho, bias):
    """Erf expectations for both orders from one bivariate CDF evaluation.

    Returns (A0, A11, A20, A20', A1, A1') as :func:`relu_pair_both`: A0 and A11 are
    symmetric, and the primed ones swap (mu1, s1) with (mu2, s2), which swaps h and k
    below and leaves Phi2(h, k; r) unchanged.
    """
    s11 = s1 * s1
    s22 = s2 * s2
    q1 = math.sqrt(1.0 + 2.0 * s11)
    q2 = math.sqrt(1.0 + 2.0 * s22)
    re_ = min(max(2.0 * rho * s1 * s2 / (q1 * q2), -1.0), 1.0)
    rr = math.sqrt((1.0 - re_) * (1.0 + re_))
    if not bias:
        phi2 = 1.0 / (_TWO_PI * rr)
        g = 8.0 * re_ * phi2
        return (2.0 / math.pi * math.asin(re_), 8.0 * phi2 / (q1 * q2), -g / (q1 * q1),
                -g / (q2 * q2), 0.0, 0.0)
    h = _SQRT2 * mu1 / q1
    k = _SQRT2 * mu2 / q2
    a0 = 4.0 * bvn_cdf(h, k, re_) - 2.0 * norm_cdf(h) - 2.0 * norm_cdf(k) + 1.0
    gh = 2.0 * norm_cdf((k - re_ * h) / rr) - 1.0
    gk = 2.0 * norm_cdf((h - re_ * k) / rr) - 1.0
    ph = norm_pdf(h)
    pk = norm_pdf(k)
    phi2 = math.exp(-(h * h - 2.0 * re_ * h * k + k * k) / (2.0 * rr * rr)) / (_TWO_PI * rr)
    return (a0, 8.0 * phi2 / (q1 * q2),
            -2.0 / (q1 * q1) * (2.0 * h * ph * gh + 4.0 * re_ * phi2),
            -2.0 / (q2 * q2) * (2.0 * k * pk * gk + 4.0 * re_ * phi2),
            _SQRT2 / q1 * 2.0 * ph * gh, _SQRT2 / q2 * 2.0 * pk * gk)


@jit
def erf_pair(mu1, mu2, s1, s2, rho, bias):
    """(A0, A1, A20, A11) for sigma = erf (Williams 1997; bias through Phi2)."""
    s11 = s1 * s1
    s22 = s2 * s2
    s12 = rho * s1 * s2
    q1 = math.sqrt(1.0 + 2.0 * s11)
    q2 = math.sqrt(1.0 + 2.0 * s22)
    re_ = 2.0 * s12 / (q1 * q2)
    re_ = min(max(re_, -1.0), 1.0)
    rr = math.sqrt((1.0 - re_) * (1.0 + re_))
    if not bias:
        phi2 = 1.0 / (_TWO_PI * rr)
        a0 = 2.0 / math.pi * math.asin(re_)
        a11 = 8.0 * phi2 / (q1 * q2)
        a20 = -2.0 / (q1 * q1) * 4.0 * re_ * phi2
        return a0, 0.0, a20, a11
    h = _SQRT2 * mu1 / q1
    k = _SQRT2 * mu2 / q2
    big = bvn_cdf(h, k, re_)
    a0 = 4.0 * big - 2.0 * norm_cdf(h) - 2.0 * norm_cdf(k) + 1.0
    g = 2.0 * norm_cdf((k - re_ * h) / rr) - 1.0
    ph = norm_pdf(h)
    phi2 = math.exp(-(h * h - 2.0 * re_ * h * k + k * k) / (2.0 * rr * rr)) / (_TWO_PI * rr)
    a1 = _SQRT2 / q1 * 2.0 * ph * g
    a11 = 8.0 * phi2 / (q1 * q2)
    a20 = -2.0 / (q1 * q1) * (2.0 * h * ph * g + 4.0 * re_ * phi2)
    return a0, a1, a20, a11


def gaussian_rule(n, half_width=8.5):
    """Nodes and weights of the n-point rule for E[g(X)], X ~ N(0, 1).

    The trapezoidal rule on [-half_width, half_width] with Gaussian weights. For
    integrands analytic in the strip |Im x| < tau it converges like
    exp(-2 pi tau / h) with h = 2 half_width / (n - 1), much faster than
    Gauss-Hermite for sigmoid-like activations, whose poles sit at distance
    p / s from the real axis in these coordinates (p = pi / 2 for tanh, pi for
    sigmoid and softplus; s the standard deviation of the pre-activation). The
    truncation costs phi(8.5) ~ 1e-16.

    Returns
    -------
    nodes, weights : ndarray, shape (n,)
    """
    if n < 8:
        raise ValueError(f"quad_nodes={n!r} is too small; allowed: an integer >= 8")
    x = np.linspace(-half_width, half_width, n)
    w = np.exp(-0.5 * x * x)
    w /= w.sum()
    return np.ascontiguousarray(x), np.ascontiguousarray(w)


#: smallest rule used by the adaptive quadrature
MIN_NODES = 24
#: nodes needed per unit of s / p for a trapezoidal error about 1e-12
_NODES_PER_SCALE = 80.0


def gaussian_rules(max_nodes):
    """Nested family of :func:`gaussian_rule` rules with 24, 48, ... <= max_nodes nodes.

    Returns
    -------
    nodes, weights : ndarray, shape (R, max_nodes), zero-padded
    counts : ndarray of int64, shape (R,)
    """
    sizes = []
    n = MIN_NODES
    while n < max_nodes:
        sizes.append(n)
        n *= 2
    sizes.append(int(max_nodes))
    nodes = np.zeros((len(sizes), int(max_nodes)))
    weights = np.zeros_like(nodes)
    for r, k in enumerate(sizes):
        nodes[r, :k], weights[r, :k] = gaussian_rule(k)
    return nodes, weights, np.array(sizes, dtype=np.int64)


@inline
def _pole_distance(code):
    # distance of the nearest complex singularity of sigma from the real axis
    if code == act.TANH:
        return 0.5 * math.pi
    if code == act.SIGMOID or code == act.SOFTPLUS:
        return math.pi
    return 1.5


@inline
def _rule_index(code, s1, s2, counts):
    # the smallest rule of the family with at least 80 max(s1, s2) / p nodes
    need = _NODES_PER_SCALE * max(s1, s2) / _pole_distance(code)
    ri = 0
    while ri < counts.shape[0] - 1 and counts[ri] < need:
        ri += 1
    return ri


@jit
def quadrature_pair_both(code, leak, mu1, mu2, s1, s2, rho, nodes, weights, counts):
    """(A0, A11, A20, A20', A1, A1') by tensor-product quadrature, both orders in one pass.

    The inner sums over z' also collect sigma'(z') and sigma''(z'), which give
    A1' = E[sigma'(z') sigma(z)] and A20' = E[sigma''(z') sigma(z)] with the outer
    weights sigma(z): 3 n^2 + 3 n activation evaluations instead of twice 2 n^2 + 3 n.
    Returns (A0, A11, A20, A20', A1, A1') as :func:`relu_pair_both`.
    """
    rho = min(max(rho, -1.0), 1.0)
    r = math.sqrt(max((1.0 - rho) * (1.0 + rho), 0.0))
    ri = _rule_index(code, s1, s2, counts)
    n = counts[ri]
    xs = nodes[ri]
    ws = weights[ri]
    a0 = 0.0
    a1 = 0.0
    a20 = 0.0
    a11 = 0.0
    a1r = 0.0
    a20r = 0.0
    for p in range(n):
        z1 = mu1 + s1 * xs[p]
        base = mu2 + s2 * rho * xs[p]
        i0 = 0.0
        i1 = 0.0
        i2 = 0.0
        for q in range(n):
            z2 = base + s2 * r * xs[q]
            i0 += ws[q] * act.sigma(code, z2, leak)
            i1 += ws[q] * act.sigma1(code, z2, leak)
            i2 += ws[q] * act.sigma2(code, z2, leak)
        wp = ws[p]
        f0 = wp * act.sigma(code, z1, leak)
        f1 = wp * act.sigma1(code, z1, leak)
        a0 += f0 * i0
        a1 += f1 * i0
        a20 += wp * act.sigma2(code, z1, leak) * i0
        a11 += f1 * i1
        a1r += f0 * i1
        a20r += f0 * i2
    return a0, a11, a20, a20r, a1, a1r


@jit
def quadrature_pair(code, leak, mu1, mu2, s1, s2, rho, nodes, weights, counts):
    """(A0, A1, A20, A11) by tensor-product quadrature on the 2-D Gaussian.

    z = mu1 + s1 g1 and z' = mu2 + s2 (rho g1 + sqrt(1 - rho^2) g2), with g1, g2
    independent standard normals, integrated with the smallest rule of the family
    (:func:`gaussian_rules`) that has at least 80 max(s1, s2) / p nodes (p: pole
    distance of sigma), which keeps the error near 1e-12 until the largest rule is
    reached; beyond it, the error grows like exp(-2 pi p (n - 1) / (17 s)).
    The sums are those of :func:`quadrature_pair_both` (3 n^2 + 3 n activation
    evaluations; the exact oracle needs both orders, one-off uses pay the third n^2).
    """
    a0, a11, a20, _, a1, _ = quadrature_pair_both(code, leak, mu1, mu2, s1, s2, rho, nodes,
                                                  weights, counts)
    return a0, a1, a20, a11


@jit
def pair(code, leak, bias, mu1, mu2, s1, s2, rho, nodes, weights, counts):
    """Dispatch to the closed form of ``code`` or to quadrature."""
    if code == act.RELU:
        return relu_pair(mu1, mu2, s1, s2, rho, bias)
    if code == act.LEAKY_RELU:
        return leaky_pair(mu1, mu2, s1, s2, rho, bias, leak)
    if code == act.ERF:
        return erf_pair(mu1, mu2, s1, s2, rho, bias)
    return quadrature_pair(code, leak, mu1, mu2, s1, s2, rho, nodes, weights, counts)


@jit
def pair_array(code, leak, bias, mu1, mu2, s1, s2, rho, nodes, weights, counts, out):
    """Vectorised :func:`pair` over 1-D arrays; ``out`` has shape (n, 4)."""
    for i in range(mu1.shape[0]):
        a0, a1, a20, a11 = pair(code, leak, bias, mu1[i], mu2[i], s1[i], s2[i], rho[i],
                                nodes, weights, counts)
        out[i, 0] = a0
        out[i, 1] = a1
        out[i, 2] = a20
        out[i, 3] = a11
