"""Compiled closed forms of sparse deconvolution on the torus T = [0, 1).

A measure mu = (1/m) sum_i c_i delta_{p_i} is observed through the Dirichlet kernel
psi(x) = sum_{|k| <= K} exp(2 i pi k x): (Phi mu)(x) = int psi(x - p) d mu(p). Phi mu has
the Fourier coefficients C_k - i S_k (k = 0..K, and their conjugates for -k), with

    C_k = (1/m) sum_i c_i cos(2 pi k p_i),    S_k = (1/m) sum_i c_i sin(2 pi k p_i),

so that with the residual's coefficients dC_k = C_k - C_k(y), dS_k = S_k - S_k(y):

    1/2 ||Phi mu - y||^2 = 1/2 dC_0^2 + sum_{k=1}^K (dC_k^2 + dS_k^2)
    V(p) = <Phi mu - y, psi(. - p)> = dC_0 + 2 sum_{k=1}^K (dC_k cos 2 pi k p + dS_k sin 2 pi k p)

(docs/deconvolution.md). One call costs O(m K): the powers exp(2 i pi k p) come from
one complex rotation per k (error about k ulp), and the tests check everything against
the pairwise form through psi(p_i - p_j) (tests/naive.py).
"""
import math

import numpy as np

from .._numba.jit import vjit


@vjit
def fourier_sums(theta, K, cs, sn, work):
    """C_k and S_k (k = 0..K) of the particles into ``cs``, ``sn`` (shape (K + 1,)).

    Parameters
    ----------
    theta : ndarray, shape (m, 3)
        Particles (c | p | unused).
    K : int
        Cutoff.
    cs, sn : ndarray, shape (K + 1,), float64
        Receive C_k and S_k.
    work : ndarray, shape (6, m), float64
        Work rows: c, cos 2 pi p, sin 2 pi p, cos 2 pi k p, sin 2 pi k p (the sixth is
        used by :func:`deconvolution_velocity`).

    Notes
    -----
    The loops run over the particles innermost (independent lanes, so they vectorise);
    the powers exp(2 i pi k p) come from one complex rotation per k.
    """
    m = theta.shape[0]
    c, cr, sr, ck, sk = work[0], work[1], work[2], work[3], work[4]
    for i in range(m):
        c[i] = theta[i, 0]
        ang = 2.0 * math.pi * np.float64(theta[i, 1])
        cr[i] = math.cos(ang)
        sr[i] = math.sin(ang)
        ck[i] = 1.0
        sk[i] = 0.0
    for k in range(K + 1):
        a = 0.0
        b = 0.0
        for i in range(m):
            a += c[i] * ck[i]
            b += c[i] * sk[i]
        cs[k] = a / m
        sn[k] = b / m
        for i in range(m):
            t = ck[i] * cr[i] - sk[i] * sr[i]
            sk[i] = sk[i] * cr[i] + ck[i] * sr[i]
            ck[i] = t


@vjit
def deconvolution_velocity(theta, yc, ys, K, dc, ds, work, out):
    """Data term 1/2 ||Phi mu - y||^2 and the mean-field velocity of its flow.

    Parameters
    ----------
    theta : ndarray, shape (m, 3)
        Particles (c | p | b); the b column is not used (its velocity is 0).
    yc, ys : ndarray, shape (K + 1,), float64
        C_k(y), S_k(y) of the observation (ys[0] = 0).
    K : int
    dc, ds : ndarray, shape (K + 1,), float64
        Work: receive the residual's coefficients dC_k, dS_k.
    work : ndarray, shape (7, m), float64
        Work rows (see :func:`fourier_sums`; rows 5 and 6 receive V and V').
    out : ndarray, shape (m, 3)
        Receives v_i = (-V(p_i), -c_i V'(p_i), 0) = -m grad_{theta_i} (data term).

    Returns
    -------
    float
        The data term.
    """
    fourier_sums(theta, K, dc, ds, work)
    value = 0.0
    for k in range(K + 1):
        dc[k] -= yc[k]
        ds[k] -= ys[k]
        w = 0.5 if k == 0 else 1.0
        value += w * (dc[k] * dc[k] + ds[k] * ds[k])
    m = theta.shape[0]
    c, cr, sr, ck, sk, V, dV = work[0], work[1], work[2], work[3], work[4], work[5], work[6]
    two_pi = 2.0 * math.pi
    for i in range(m):
        ck[i] = cr[i]
        sk[i] = sr[i]
        V[i] = dc[0]
        dV[i] = 0.0
    for k in range(1, K + 1):
        a = 2.0 * dc[k]
        b = 2.0 * ds[k]
        f = two_pi * k
        for i in range(m):
            V[i] += a * ck[i] + b * sk[i]
            dV[i] += f * (b * ck[i] - a * sk[i])
            t = ck[i] * cr[i] - sk[i] * sr[i]
            sk[i] = sk[i] * cr[i] + ck[i] * sr[i]
            ck[i] = t
    for i in range(m):
        out[i, 0] = -V[i]
        out[i, 1] = -c[i] * dV[i]
        out[i, 2] = 0.0
    return value
