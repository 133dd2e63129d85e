"""Exact population risk and mean-field velocity for Gaussian (or sphere) inputs.

Squared loss, teacher f*(x) = sum_l c*_l sigma(a*_l . x + b*_l), student
f(x) = s sum_i c_i sigma(a_i . x + b_i) with s = alpha / m. With the pair
expectations of :mod:`particles.kernels.pairs` (K = A0):

    R = 1/2 [ s^2 sum_ij c_i c_j K_ij - 2 s sum_il c_i c*_l K_il + sum_lk c*_l c*_k K_lk ]

and the velocity v_i = -(1/alpha) E[(f - y) grad_theta phi(theta_i; x)] of
THEORY.md section 2 (with the 1/alpha of section 3), where with weights
w_j = s c_j (students) and w_l = -c*_l (teacher):

    v_c_i = -(1/alpha) sum_j w_j A0_ij
    v_a_i = -(c_i/alpha) [ (sum_j w_j A20_ij) a_i + sum_j w_j A11_ij a_j ]
    v_b_i = -(c_i/alpha) sum_j w_j A1_ij

The i = j term is included (the self-interaction). The sums over j of A11_ij a_j are
one (m x m) @ (m x d) matrix product done by BLAS; the transcendental work is one
pair evaluation per (i, j). Cost O(m^2 d + m m0 d) per call, independent of any
sample size.
"""
import numpy as np
from numba import prange

from .._jit import jit, pjit
from .pairs import pair


@pjit
def _pair_rows(theta, teacher, code, leak, bias, scale, nodes, weights, counts, norms,
               gram, mt,
               rows):
    # rows[i] = (sum_j w_j A0_ij over students, same over teacher, sum_j w_j A20_ij,
    #            sum_j w_j A1_ij); mt[i, :m] = w_j A11_ij, mt[i, m:] = teacher part.
    m = theta.shape[0]
    m0 = teacher.shape[0]
    d = theta.shape[1] - 2
    for i in prange(m):
        s1 = norms[i]
        b1 = theta[i, d + 1] if bias else 0.0
        r_s = 0.0
        r_t = 0.0
        r20 = 0.0
        r1 = 0.0
        for j in range(m + m0):
            if j < m:
                s2 = norms[j]
                b2 = theta[j, d + 1] if bias else 0.0
                w = theta[j, 0] * scale
            else:
                l = j - m
                s2 = norms[m + l]
                b2 = teacher[l, d + 1] if bias else 0.0
                w = -teacher[l, 0]
            if j == i:
                rho = 1.0
            elif s1 > 0.0 and s2 > 0.0:
                rho = gram[i, j] / (s1 * s2)
            else:
                rho = 0.0
            a0, a1, a20, a11 = pair(code, leak, bias, b1, b2, s1, s2, rho, nodes, weights,
                                   counts)
            if j < m:
                r_s += w * a0
            else:
                r_t += w * a0
            r20 += w * a20
            r1 += w * a1
            mt[i, j] = w * a11
        rows[i, 0] = r_s
        rows[i, 1] = r_t
        rows[i, 2] = r20
        rows[i, 3] = r1


@jit
def exact_velocity(theta, p, w, out):
    """Population risk at ``theta`` and the mean-field velocity written into ``out``.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
        Particles (c | a | b), float64 or float32.
    p : ExactParams
        Problem constants (see :class:`particles.risk.ExactOracle`).
    w : ExactWork
        Preallocated work arrays.
    out : ndarray, shape (m, d + 2)
        Receives the velocity (zero in the b column for bias-free models).

    Returns
    -------
    float
        The risk R(f) (not divided by alpha^2), accumulated in float64.
    """
    m = theta.shape[0]
    d = theta.shape[1] - 2
    teacher = p.teacher
    m0 = teacher.shape[0]
    s = p.alpha / m
    # joint (a_i | a*_l) matrix, contiguous for BLAS
    for i in range(m):
        nrm = 0.0
        for k in range(d):
            v = theta[i, k + 1]
            w.a_all[i, k] = v
            nrm += v * v
        w.norms[i] = np.sqrt(nrm)
    for l in range(m0):
        nrm = 0.0
        for k in range(d):
            v = teacher[l, k + 1]
            w.a_all[m + l, k] = v
            nrm += v * v
        w.norms[m + l] = np.sqrt(nrm)
    np.dot(w.a_all[:m], w.a_all.T, w.gram)
    _pair_rows(theta, teacher, p.code, p.leak, p.bias, s, p.nodes, p.weights, p.counts,
               w.norms,
               w.gram, w.mt, w.rows)
    np.dot(w.mt, w.a_all, w.ga)
    inv_alpha = 1.0 / p.alpha
    risk = 0.0
    for i in range(m):
        ci = theta[i, 0]
        rs = w.rows[i, 0] * p.scale
        rt = w.rows[i, 1] * p.scale
        risk += s * ci * (0.5 * rs + rt)
        out[i, 0] = -inv_alpha * (rs + rt)
        g = -inv_alpha * ci * p.scale
        r20 = w.rows[i, 2]
        for k in range(d):
            out[i, k + 1] = g * (r20 * theta[i, k + 1] + w.ga[i, k])
        out[i, d + 1] = g * w.rows[i, 3] if p.bias else 0.0
    return risk + p.const
