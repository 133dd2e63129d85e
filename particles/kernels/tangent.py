"""The tangent (linearised) model on a sample of inputs, compiled.

Around the initial particles theta0 = (c0, a0, b0) the network is replaced by its
first-order Taylor expansion in the parameters,

    f_bar(x) = f(x; theta0) + sum_i grad_{theta_i} f(x; theta0) . (theta_i - theta0_i)
             = s sum_i [ c_i sigma(z0_i) + c0_i sigma'(z0_i) ((a_i - a0_i) . x + b_i - b0_i) ],

with z0_i = a0_i . x + b0_i and s = alpha / m. Its mean-field velocity uses the
features of theta0 and the residuals of f_bar:

    v_c_i = -(1/(alpha n)) sum_k r_k sigma(z0_ki)
    v_a_i = -(c0_i/(alpha n)) sum_k r_k sigma'(z0_ki) x_k
    v_b_i = -(c0_i/(alpha n)) sum_k r_k sigma'(z0_ki),      r_k = l'(f_bar(x_k), y_k).

Samples are processed in blocks of rows through BLAS (Z0 = X_blk A0^T and
D = X_blk (A - A0)^T, then X_blk^T G), the blocks spread over a fixed number of lanes
and reduced in a fixed order, as in :mod:`particles.kernels.sampled`.
"""
import numpy as np
from numba import prange

from . import activations as act
from .._numba.jit import jit, pjit
from .network import draw_inputs, forward
from .sampled import LOGISTIC, SERIAL_BELOW, loss_grad, loss_value


@jit
def _rows(Z0, D, nb, lo, y, b0, db, c, c0, code, leak, s, loss, acc, h, g):
    # per row: sigma and sigma' of z0 (once, into h and g), f_bar, residual r,
    # acc_c += r sigma(z0), acc_b += r sigma'(z0); Z0 <- r sigma'(z0) (its product with
    # X_blk gives the a-part)
    m = Z0.shape[1]
    d1 = acc.shape[0] - 1
    rsum = 0.0
    for kk in range(nb):
        z0 = Z0[kk]
        dk = D[kk]
        f = 0.0
        for i in range(m):
            z = z0[i] + b0[i]
            hi = act.sigma(code, z, leak)
            gi = act.sigma1(code, z, leak)
            h[i] = hi
            g[i] = gi
            f += c[i] * hi + c0[i] * gi * (dk[i] + db[i])
        f *= s
        r = loss_grad(loss, f, y[lo + kk])
        rsum += loss_value(loss, f, y[lo + kk])
        for i in range(m):
            acc[0, i] += r * h[i]
            gr = r * g[i]
            acc[d1, i] += gr
            z0[i] = gr
    return rsum


@jit
def _lane(X, y, p, w, lane, s, acc):
    n, d = X.shape
    m = w.c.shape[0]
    bsz = w.zbuf.shape[1] // m
    nblocks = (n + bsz - 1) // bsz
    nl = w.lacc.shape[0]
    T = w.tbuf[lane].reshape(d, m)
    rsum = 0.0
    for blk in range(lane, nblocks, nl):
        lo = blk * bsz
        hi = min(lo + bsz, n)
        nb = hi - lo
        Z0 = w.zbuf[lane][:nb * m].reshape(nb, m)
        D = w.dbuf[lane][:nb * m].reshape(nb, m)
        Xb = X[lo:hi]
        np.dot(Xb, p.a0t, Z0)
        np.dot(Xb, w.dat, D)
        rsum += _rows(Z0, D, nb, lo, y, p.b0, w.db, w.c, p.c0, p.code, p.leak, s, p.loss, acc,
                      w.hbuf[lane], w.gbuf[lane])
        np.dot(Xb.T, Z0, T)
        for q in range(d):
            for i in range(m):
                acc[1 + q, i] += T[q, i]
    return rsum


@pjit
def _lanes(X, y, p, w, s):
    nl = w.lacc.shape[0]
    lane_risk = w.lane_risk  # bound outside the loop (as in kernels.sampled)
    for k in prange(nl):
        lane = np.int64(k)  # one index type in the parallel and serial versions
        acc = w.lacc[lane]
        acc[:, :] = 0.0
        lane_risk[lane] = _lane(X, y, p, w, lane, s, acc)


@jit
def _serial(X, y, p, w, s):
    for lane in range(w.lacc.shape[0]):
        acc = w.lacc[lane]
        acc[:, :] = 0.0
        w.lane_risk[lane] = _lane(X, y, p, w, lane, s, acc)


@jit
def tangent_core(theta, X, y, p, w, out):
    """Mean loss of the tangent model on (X, y) and its velocity into ``out``.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    X : ndarray, shape (n, d), same dtype as theta
    y : ndarray, shape (n,)
    p : TangentParams
        theta0's transposed weights ``a0t`` (d, m), biases ``b0`` and output weights
        ``c0`` (m,), activation code, leak, bias flag, output scale alpha, loss code.
    w : TangentWork
    out : ndarray, shape (m, d + 2)
    """
    m = theta.shape[0]
    d = theta.shape[1] - 2
    n = X.shape[0]
    for i in range(m):
        w.c[i] = theta[i, 0]
        w.db[i] = theta[i, d + 1] - p.b0[i] if p.bias else 0.0
        for q in range(d):
            w.dat[q, i] = theta[i, q + 1] - p.a0t[q, i]
    s = p.alpha / m
    if n * m >= SERIAL_BELOW:  # below, the lanes run in the calling thread
        _lanes(X, y, p, w, s)
    else:
        _serial(X, y, p, w, s)
    nl = w.lacc.shape[0]
    rsum = 0.0
    for lane in range(nl):
        rsum += w.lane_risk[lane]
    g = -1.0 / (p.alpha * n)
    for i in range(m):
        tot = 0.0
        for lane in range(nl):
            tot += w.lacc[lane, 0, i]
        out[i, 0] = g * tot
        gi = g * p.c0[i]
        for q in range(d + 1):
            tot = 0.0
            for lane in range(nl):
                tot += w.lacc[lane, q + 1, i]
            out[i, q + 1] = gi * tot
        if not p.bias:
            out[i, d + 1] = 0.0
    return rsum / n


@jit
def tangent_sampled(theta, p, w, out):
    """Tangent velocity on the fixed sample ``p.X, p.y``."""
    return tangent_core(theta, p.X, p.y, p, w, out)


@jit
def tangent_online(theta, p, w, out):
    """Tangent velocity on a fresh batch drawn from ``p.gen`` and labelled by the
    teacher (as :func:`particles.kernels.sampled.online_velocity`)."""
    draw_inputs(p.gen, p.sphere, w.xb)
    forward(p.teacher, w.xb, p.tcode, p.leak, p.tbias, 1.0, w.yb)
    if p.loss == LOGISTIC:
        for k in range(w.yb.shape[0]):
            w.yb[k] = 1.0 if w.yb[k] >= 0 else -1.0
    return tangent_core(theta, w.xb, w.yb, p, w, out)
