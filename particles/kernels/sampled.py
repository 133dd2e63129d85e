"""Risk and mean-field velocity on a finite sample of inputs (compiled).

For a sample (x_k, y_k), k < n, the empirical risk is R = (1/n) sum_k l(f(x_k), y_k)
and the velocity is v_i = -(1/alpha) (1/n) sum_k l'(f(x_k), y_k) grad_theta phi(theta_i; x_k):

    v_c_i = -(1/(alpha n)) sum_k r_k sigma(z_ki)
    v_a_i = -(c_i/(alpha n)) sum_k r_k sigma'(z_ki) x_k
    v_b_i = -(c_i/(alpha n)) sum_k r_k sigma'(z_ki)

Two code paths give the same numbers up to rounding:

* small d (``d <= FUSED_MAX_D``): one fused pass per sample that never writes an
  (n x m) array; the samples are split into a fixed number of lanes run in parallel,
  and the lanes are reduced in a fixed order, so results do not depend on the number
  of threads;
* larger d: blocks of samples through BLAS, Z = X_blk A^T and G^T X_blk.

Reductions accumulate in float64 whatever the state dtype.
"""
import math

import numpy as np
from numba import prange

from .. import activations as act
from .._jit import inline, jit, pjit

SQUARED, LOGISTIC = 0, 1
LOSSES = {"squared": SQUARED, "logistic": LOGISTIC}
FUSED_MAX_D = 16
LANES = 4
BLOCK = 128


@inline
def loss_value(loss, f, y):
    """l(f, y): (f - y)^2 / 2 or log(1 + exp(-y f))."""
    if loss == SQUARED:
        return 0.5 * (f - y) * (f - y)
    t = -y * f
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


@inline
def loss_grad(loss, f, y):
    """l'(f, y) with respect to f."""
    if loss == SQUARED:
        return f - y
    t = y * f
    if t >= 0:
        e = math.exp(-t)
        return -y * e / (1.0 + e)
    return -y / (1.0 + math.exp(t))


@pjit
def _fused(theta, X, y, code, leak, bias, alpha, loss, acc, hbuf, gbuf, lane_risk):
    m = theta.shape[0]
    d = theta.shape[1] - 2
    n = X.shape[0]
    s = alpha / m
    nl = acc.shape[0]
    for lane in prange(nl):
        lo = (n * lane) // nl
        hi = (n * (lane + 1)) // nl
        a = acc[lane]
        a[:, :] = 0.0
        h = hbuf[lane]
        g = gbuf[lane]
        rsum = 0.0
        for k in range(lo, hi):
            f = 0.0
            for i in range(m):
                z = theta[i, d + 1] if bias else 0.0
                for q in range(d):
                    z += theta[i, q + 1] * X[k, q]
                h[i] = act.sigma(code, z, leak)
                g[i] = act.sigma1(code, z, leak)
                f += theta[i, 0] * h[i]
            f *= s
            rsum += loss_value(loss, f, y[k])
            r = loss_grad(loss, f, y[k])
            for i in range(m):
                a[i, 0] += r * h[i]
                gi = r * g[i]
                for q in range(d):
                    a[i, q + 1] += gi * X[k, q]
                a[i, d + 1] += gi
        lane_risk[lane] = rsum


@jit
def _blas(theta, X, y, code, leak, bias, alpha, loss, w):
    m = theta.shape[0]
    d = theta.shape[1] - 2
    n = X.shape[0]
    s = alpha / m
    A = w.amat
    for i in range(m):
        for q in range(d):
            A[i, q] = theta[i, q + 1]
    acc = w.acc[0]
    acc[:, :] = 0.0
    Z = w.zbuf
    G = w.gblk
    T = w.tbuf
    bsz = Z.shape[0]
    rsum = 0.0
    for lo in range(0, n, bsz):
        hi = min(lo + bsz, n)
        nb = hi - lo
        Xb = X[lo:hi]
        Zb = Z[:nb]
        Gb = G[:nb]
        np.dot(Xb, A.T, Zb)
        for k in range(nb):
            f = 0.0
            for i in range(m):
                z = Zb[k, i] + (theta[i, d + 1] if bias else 0.0)
                hz = act.sigma(code, z, leak)
                Gb[k, i] = act.sigma1(code, z, leak)
                Zb[k, i] = hz
                f += theta[i, 0] * hz
            f *= s
            rsum += loss_value(loss, f, y[lo + k])
            r = loss_grad(loss, f, y[lo + k])
            for i in range(m):
                acc[i, 0] += r * Zb[k, i]
                gi = r * Gb[k, i]
                Gb[k, i] = gi
                acc[i, d + 1] += gi
        np.dot(Gb.T, Xb, T)
        for i in range(m):
            for q in range(d):
                acc[i, q + 1] += T[i, q]
    return rsum


@jit
def sample_velocity_core(theta, X, y, code, leak, bias, alpha, loss, w, out):
    """Mean loss on (X, y) and the velocity into ``out`` (see module docstring).

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    X : ndarray, shape (n, d), same dtype as theta
    y : ndarray, shape (n,)
    code, leak, bias, alpha, loss
        Activation code, leaky slope, bias flag, output scale, loss code.
    w : SampleWork
        Preallocated buffers.
    out : ndarray, shape (m, d + 2)
    """
    m = theta.shape[0]
    d = theta.shape[1] - 2
    n = X.shape[0]
    if d <= FUSED_MAX_D:
        _fused(theta, X, y, code, leak, bias, alpha, loss, w.acc, w.hbuf, w.gbuf,
               w.lane_risk)
        nl = w.acc.shape[0]
        rsum = 0.0
        for lane in range(1, nl):
            w.acc[0] += w.acc[lane]
        for lane in range(nl):
            rsum += w.lane_risk[lane]
    else:
        rsum = _blas(theta, X, y, code, leak, bias, alpha, loss, w)
    acc = w.acc[0]
    g = -1.0 / (alpha * n)
    for i in range(m):
        out[i, 0] = g * acc[i, 0]
        gi = g * theta[i, 0]
        for q in range(d):
            out[i, q + 1] = gi * acc[i, q + 1]
        out[i, d + 1] = gi * acc[i, d + 1] if bias else 0.0
    return rsum / n


@jit
def forward(theta, X, code, leak, bias, alpha, out):
    """Network output f(x_k) = (alpha/m) sum_i c_i sigma(a_i . x_k + b_i).

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    X : ndarray, shape (n, d)
    out : ndarray, shape (n,)
    """
    m = theta.shape[0]
    d = theta.shape[1] - 2
    s = alpha / m
    for k in range(X.shape[0]):
        f = 0.0
        for i in range(m):
            z = theta[i, d + 1] if bias else 0.0
            for q in range(d):
                z += theta[i, q + 1] * X[k, q]
            f += theta[i, 0] * act.sigma(code, z, leak)
        out[k] = s * f


@jit
def sample_risk(theta, X, y, code, leak, bias, alpha, loss):
    """Mean loss (1/n) sum_k l(f(x_k), y_k) without the velocity."""
    f = np.empty(X.shape[0], dtype=np.float64)
    forward(theta, X, code, leak, bias, alpha, f)
    r = 0.0
    for k in range(X.shape[0]):
        r += loss_value(loss, f[k], y[k])
    return r / X.shape[0]


@jit
def sampled_velocity(theta, p, w, out):
    """Velocity on the fixed sample ``p.X, p.y`` (the `sampled` and `dataset` oracles)."""
    return sample_velocity_core(theta, p.X, p.y, p.code, p.leak, p.bias, p.alpha, p.loss,
                                w, out)


@jit
def draw_inputs(gen, sphere, X):
    """Fill ``X`` (n, d) with N(0, I) rows, normalised to the unit sphere if asked."""
    n, d = X.shape
    for k in range(n):
        nrm = 0.0
        for q in range(d):
            v = gen.standard_normal()
            X[k, q] = v
            nrm += v * v
        if sphere:
            nrm = math.sqrt(nrm)
            for q in range(d):
                X[k, q] = X[k, q] / nrm


@jit
def online_velocity(theta, p, w, out):
    """Velocity on a fresh batch drawn from ``p.gen`` (the `online` oracle, SGD).

    The batch is drawn into ``w.xb`` and labelled by the teacher ``p.teacher``
    (with the teacher's own activation and no 1/m factor); the generator's state
    advances, so a run is reproducible from its seed and resumable from its state.
    """
    draw_inputs(p.gen, p.sphere, w.xb)
    forward(p.teacher, w.xb, p.tcode, p.leak, p.tbias, float(p.teacher.shape[0]), w.yb)
    if p.loss == LOGISTIC:
        for k in range(w.yb.shape[0]):
            w.yb[k] = 1.0 if w.yb[k] >= 0 else -1.0
    return sample_velocity_core(theta, w.xb, w.yb, p.code, p.leak, p.bias, p.alpha, p.loss,
                                w, out)
