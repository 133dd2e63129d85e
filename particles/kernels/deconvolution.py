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

from .._numba.jit import jit


@jit
def fourier_sums(theta, K, cs, sn):
    """C_k and S_k (k = 0..K) of the particles into ``cs``, ``sn`` (shape (K + 1,)).

    Parameters
    ----------
    theta : ndarray, shape (m, 3)
        Particles (c | p | unused).
    K : int
        Cutoff.
    cs, sn : ndarray, shape (K + 1,), float64
        Receive C_k and S_k.
    """
    m = theta.shape[0]
    for k in range(K + 1):
        cs[k] = 0.0
        sn[k] = 0.0
    for i in range(m):
        c = np.float64(theta[i, 0])
        ang = 2.0 * math.pi * np.float64(theta[i, 1])
        cr = math.cos(ang)
        sr = math.sin(ang)
        ck = 1.0
        sk = 0.0
        for k in range(K + 1):
            cs[k] += c * ck
            sn[k] += c * sk
            t = ck * cr - sk * sr
            sk = sk * cr + ck * sr
            ck = t
    for k in range(K + 1):
        cs[k] /= m
        sn[k] /= m


@jit
def deconvolution_velocity(theta, yc, ys, K, dc, ds, out):
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
    out : ndarray, shape (m, 3)
        Receives v_i = (-V(p_i), -c_i V'(p_i), 0) = -m grad_{theta_i} (data term).

    Returns
    -------
    float
        The data term.
    """
    fourier_sums(theta, K, dc, ds)
    value = 0.0
    for k in range(K + 1):
        dc[k] -= yc[k]
        ds[k] -= ys[k]
        w = 0.5 if k == 0 else 1.0
        value += w * (dc[k] * dc[k] + ds[k] * ds[k])
    m = theta.shape[0]
    two_pi = 2.0 * math.pi
    for i in range(m):
        ang = two_pi * np.float64(theta[i, 1])
        cr = math.cos(ang)
        sr = math.sin(ang)
        ck = cr
        sk = sr
        v = dc[0]
        dv = 0.0
        for k in range(1, K + 1):
            v += 2.0 * (dc[k] * ck + ds[k] * sk)
            dv += 2.0 * two_pi * k * (ds[k] * ck - dc[k] * sk)
            t = ck * cr - sk * sr
            sk = sk * cr + ck * sr
            ck = t
        out[i, 0] = -v
        out[i, 1] = -np.float64(theta[i, 0]) * dv
        out[i, 2] = 0.0
    return value
