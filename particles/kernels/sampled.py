"""Risk and mean-field velocity on a finite sample of inputs (compiled).

For a sample (x_k, y_k), k < n, the empirical risk is R = (1/n) sum_k l(f(x_k), y_k)
and the velocity is v_i = -(1/alpha) (1/n) sum_k l'(f(x_k), y_k) grad_theta phi(theta_i; x_k):

    v_c_i = -(1/(alpha n)) sum_k r_k sigma(z_ki)
    v_a_i = -(c_i/(alpha n)) sum_k r_k sigma'(z_ki) x_k
    v_b_i = -(c_i/(alpha n)) sum_k r_k sigma'(z_ki)

Three code paths give the same numbers up to rounding:

* small d (``d <= FUSED_MAX_D``), fused passes that never write an (n x m) array:

  - in general, two passes per chunk of samples (forward for f, then the velocity
    sums) whose inner loops run over samples (transposed inputs), so that they are
    long and vectorise; for d = 2 each pass is a single loop with z formed in
    registers, ReLU neurons four at a time (``_fused_chunk_2d``: 0.1-0.2 ns per
    (sample, neuron) pair on the reference machine, against 2-2.5 ns before the loops
    vectorised);
  - for ``d >= INNER_MIN_D`` and ``m >= INNER_MIN_M``, one pass per sample whose inner
    loops run over neurons (transposed weights);

* larger d: blocks of samples through BLAS, Z = X_blk A^T and X_blk^T G.

Inner loops index views (``XT[q, lo:hi][kk]``), never ``XT[q, lo + kk]``: Numba
checks a computed index for wrap-around on every element, and that check keeps LLVM
from vectorising the loop (a 4x slowdown, measured).

Every way, the samples are split into a fixed number of lanes, run in parallel (BLAS
single-threaded inside them) from ``SERIAL_BELOW`` pairs on, and the lanes are reduced in a fixed order, so results
do not depend on the number of threads.

Totals accumulate in float64 whatever the state dtype (the d = 2 passes and the
neurons-innermost path sum at most ``CHUNK`` or ``FLUSH`` samples in the state dtype
first).
"""
import math

import numpy as np
from numba import prange

from . import activations as act
from .._numba.jit import inline, jit, pjit, vinline, vjit
from .network import draw_inputs, forward

SQUARED, LOGISTIC = 0, 1
LOSSES = {"squared": SQUARED, "logistic": LOGISTIC}
FUSED_MAX_D = 16
LANES = 4
BLOCK = 128
#: below this many (sample, neuron) pairs the small-d paths run in one thread: waking
#: the pool costs about 50 us per call on the reference machine (2 cores), the work of
#: 200 000 pairs (benchmarks/results/cost-quick.md)
SERIAL_BELOW = 400_000
#: from this many neurons and this many input dimensions on, the small-d path loops
#: over neurons innermost (below, the samples-innermost passes are faster)
INNER_MIN_M = 64
INNER_MIN_D = 8


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


@vjit
def _activate(code, leak, z, h, g, c, n):
    """h = sigma(z), g = sigma'(z) on the first n entries; returns sum_i c_i h_i (float64).

    ReLU and leaky ReLU get their own branch-free loops (they vectorise); the other
    activations share one loop."""
    f = 0.0
    if code == act.RELU:
        for i in range(n):
            zi = z[i]
            pos = zi > 0
            hi = zi if pos else 0.0 * zi
            h[i] = hi
            g[i] = 1.0 if pos else 0.0
            f += c[i] * hi
    elif code == act.LEAKY_RELU:
        for i in range(n):
            zi = z[i]
            pos = zi > 0
            hi = zi if pos else leak * zi
            h[i] = hi
            g[i] = 1.0 if pos else leak
            f += c[i] * hi
    else:
        for i in range(n):
            zi = z[i]
            hi = act.sigma(code, zi, leak)
            h[i] = hi
            g[i] = act.sigma1(code, zi, leak)
            f += c[i] * hi
    return f


@vinline
def _pre(XT, lo, hi, at, bvec, i, z):
    # z[k - lo] = a_i . x_k + b_i for k in [lo, hi): d passes over contiguous samples
    d = at.shape[0]
    nk = hi - lo
    bi = bvec[i]
    for kk in range(nk):
        z[kk] = bi
    for q in range(d):
        aq = at[q, i]
        xq = XT[q, lo:hi]  # a view: an index k = lo + kk would need Numba's negative-index
        for kk in range(nk):  # check on every element, which stops LLVM vectorising
            z[kk] += aq * xq[kk]


@vjit
def _fused_chunk(XT, y, lo, hi, at, bvec, cvec, code, leak, s, loss, acc, z, h, g, f):
    # samples [lo, hi) through all neurons, loops over samples innermost (contiguous,
    # vectorised, no (n x m) array): pass 1 accumulates f, pass 2 the velocity sums
    d = at.shape[0]
    m = at.shape[1]
    nk = hi - lo
    for kk in range(nk):
        f[kk] = 0.0
    for i in range(m):
        _pre(XT, lo, hi, at, bvec, i, z)
        ci = cvec[i]
        if code == act.RELU:
            for kk in range(nk):
                zk = z[kk]
                f[kk] += ci * (zk if zk > 0 else 0.0)
        else:
            for kk in range(nk):
                f[kk] += ci * act.sigma(code, z[kk], leak)
    rsum = 0.0
    yc = y[lo:hi]
    for kk in range(nk):
        fk = s * f[kk]
        rsum += loss_value(loss, fk, yc[kk])
        f[kk] = loss_grad(loss, fk, yc[kk])  # f now holds the residuals r_k
    for i in range(m):
        _pre(XT, lo, hi, at, bvec, i, z)
        sc = 0.0
        sb = 0.0
        if code == act.RELU:
            for kk in range(nk):
                zk = z[kk]
                rk = f[kk]
                pos = zk > 0
                sc += rk * (zk if pos else 0.0)
                gk = rk if pos else 0.0
                g[kk] = gk
                sb += gk
        else:
            for kk in range(nk):
                zk = z[kk]
                rk = f[kk]
                sc += rk * act.sigma(code, zk, leak)
                gk = rk * act.sigma1(code, zk, leak)
                g[kk] = gk
                sb += gk
        acc[0, i] += sc
        acc[d + 1, i] += sb
        for q in range(d):
            xq = XT[q, lo:hi]
            sq = 0.0
            for kk in range(nk):
                sq += g[kk] * xq[kk]
            acc[1 + q, i] += sq
    return rsum


@vjit
def _relu2d_forward4(x0, x1, f, at, bvec, cvec, i, nk):
    # f[k] += sum over neurons i..i+3 of c relu(b + a . x_k): four neurons per load and
    # store of f (register blocking; one neuron per pass is bound by the f traffic)
    zero = f.dtype.type(0.0)
    b0, b1, b2, b3 = bvec[i], bvec[i + 1], bvec[i + 2], bvec[i + 3]
    p0, p1, p2, p3 = at[0, i], at[0, i + 1], at[0, i + 2], at[0, i + 3]
    q0, q1, q2, q3 = at[1, i], at[1, i + 1], at[1, i + 2], at[1, i + 3]
    c0, c1, c2, c3 = cvec[i], cvec[i + 1], cvec[i + 2], cvec[i + 3]
    for kk in range(nk):
        u = x0[kk]
        v = x1[kk]
        z0 = b0 + p0 * u + q0 * v
        z1 = b1 + p1 * u + q1 * v
        z2 = b2 + p2 * u + q2 * v
        z3 = b3 + p3 * u + q3 * v
        f[kk] += (c0 * (z0 if z0 > zero else zero) + c1 * (z1 if z1 > zero else zero)
                  + c2 * (z2 if z2 > zero else zero) + c3 * (z3 if z3 > zero else zero))


@vjit
def _relu2d_backward4(x0, x1, r, at, bvec, i, nk, acc):
    # the velocity sums of neurons i..i+3 from the residuals r, one pass for four. With
    # g = r 1(z > 0): sum g, sum g x; the c-part sum r relu(z) = sum g z is
    # b sum g + a . sum g x, so it needs no sum of its own
    zero = r.dtype.type(0.0)
    b0, b1, b2, b3 = bvec[i], bvec[i + 1], bvec[i + 2], bvec[i + 3]
    p0, p1, p2, p3 = at[0, i], at[0, i + 1], at[0, i + 2], at[0, i + 3]
    q0, q1, q2, q3 = at[1, i], at[1, i + 1], at[1, i + 2], at[1, i + 3]
    sb0 = sb1 = sb2 = sb3 = zero
    su0 = su1 = su2 = su3 = zero
    sv0 = sv1 = sv2 = sv3 = zero
    for kk in range(nk):
        u = x0[kk]
        v = x1[kk]
        rk = r[kk]
        g0 = rk if b0 + p0 * u + q0 * v > zero else zero
        g1 = rk if b1 + p1 * u + q1 * v > zero else zero
        g2 = rk if b2 + p2 * u + q2 * v > zero else zero
        g3 = rk if b3 + p3 * u + q3 * v > zero else zero
        sb0 += g0
        sb1 += g1
        sb2 += g2
        sb3 += g3
        su0 += g0 * u
        su1 += g1 * u
        su2 += g2 * u
        su3 += g3 * u
        sv0 += g0 * v
        sv1 += g1 * v
        sv2 += g2 * v
        sv3 += g3 * v
    acc[0, i] += b0 * sb0 + p0 * su0 + q0 * sv0
    acc[0, i + 1] += b1 * sb1 + p1 * su1 + q1 * sv1
    acc[0, i + 2] += b2 * sb2 + p2 * su2 + q2 * sv2
    acc[0, i + 3] += b3 * sb3 + p3 * su3 + q3 * sv3
    acc[1, i] += su0
    acc[1, i + 1] += su1
    acc[1, i + 2] += su2
    acc[1, i + 3] += su3
    acc[2, i] += sv0
    acc[2, i + 1] += sv1
    acc[2, i + 2] += sv2
    acc[2, i + 3] += sv3
    acc[3, i] += sb0
    acc[3, i + 1] += sb1
    acc[3, i + 2] += sb2
    acc[3, i + 3] += sb3


@vjit
def _fused_chunk_2d(XT, y, lo, hi, at, bvec, cvec, code, leak, s, loss, acc, f):
    # _fused_chunk for d = 2 (the planar problems the animations show): z is formed
    # in registers inside each pass, so every pass is one loop over the samples. The
    # sums over one chunk run in the state dtype (float32 states get 16-wide float32
    # vectors), and are added to the float64 totals once per chunk and neuron.
    m = at.shape[1]
    nk = hi - lo
    x0 = XT[0, lo:hi]
    x1 = XT[1, lo:hi]
    tp = f.dtype.type
    zero = tp(0.0)
    for kk in range(nk):
        f[kk] = zero
    i4 = (m // 4) * 4 if code == act.RELU else 0
    for i in range(0, i4, 4):
        _relu2d_forward4(x0, x1, f, at, bvec, cvec, i, nk)
    for i in range(i4, m):
        bi = bvec[i]
        a0 = at[0, i]
        a1 = at[1, i]
        ci = cvec[i]
        if code == act.RELU:
            for kk in range(nk):
                zk = bi + a0 * x0[kk] + a1 * x1[kk]
                f[kk] += ci * (zk if zk > zero else zero)
        else:
            for kk in range(nk):
                f[kk] += ci * tp(act.sigma(code, bi + a0 * x0[kk] + a1 * x1[kk], leak))
    rsum = 0.0
    yc = y[lo:hi]
    for kk in range(nk):
        fk = s * f[kk]
        rsum += loss_value(loss, fk, yc[kk])
        f[kk] = tp(loss_grad(loss, fk, yc[kk]))  # f now holds the residuals r_k
    for i in range(0, i4, 4):
        _relu2d_backward4(x0, x1, f, at, bvec, i, nk, acc)
    for i in range(i4, m):
        bi = bvec[i]
        a0 = at[0, i]
        a1 = at[1, i]
        sc = zero
        sb = zero
        s0 = zero
        s1 = zero
        if code == act.RELU:
            for kk in range(nk):
                zk = bi + a0 * x0[kk] + a1 * x1[kk]
                gk = f[kk] if zk > zero else zero
                sc += gk * zk
                sb += gk
                s0 += gk * x0[kk]
                s1 += gk * x1[kk]
        else:
            for kk in range(nk):
                zk = bi + a0 * x0[kk] + a1 * x1[kk]
                rk = f[kk]
                sc += rk * tp(act.sigma(code, zk, leak))
                gk = rk * tp(act.sigma1(code, zk, leak))
                sb += gk
                s0 += gk * x0[kk]
                s1 += gk * x1[kk]
        acc[0, i] += sc
        acc[1, i] += s0
        acc[2, i] += s1
        acc[3, i] += sb
    return rsum


#: samples per chunk of the fused path (its buffers stay in the L1/L2 caches)
CHUNK = 1024


@jit
def _fused_lane(XT, y, lo, hi, w, lane, code, leak, s, loss):
    acc = w.lacc[lane]
    acc[:, :] = 0.0
    rsum = 0.0
    for c0 in range(lo, hi, CHUNK):
        if w.at.shape[0] == 2:
            rsum += _fused_chunk_2d(XT, y, c0, min(c0 + CHUNK, hi), w.at, w.bvec, w.cvec,
                                    code, leak, s, loss, acc, w.hbuf[lane])
            continue
        rsum += _fused_chunk(XT, y, c0, min(c0 + CHUNK, hi), w.at, w.bvec, w.cvec, code, leak,
                             s, loss, acc, w.zbuf[lane], w.hbuf[lane], w.gbuf[lane],
                             w.fbuf[lane])
    return rsum


@pjit
def _fused_parallel(XT, y, w, code, leak, s, loss):
    n = XT.shape[1]
    nl = w.lacc.shape[0]
    lane_risk = w.lane_risk
    for k in prange(nl):
        lane = np.int64(k)  # one index type in the parallel and serial versions
        lo = (n * lane) // nl
        hi = (n * (lane + 1)) // nl
        lane_risk[lane] = _fused_lane(XT, y, lo, hi, w, lane, code, leak, s, loss)


@vinline
def _inner_sample(X, k, at, bvec, cvec, code, leak, s, loss, yk, part, z, h, g):
    # one sample through all neurons with the loops over neurons innermost (for larger
    # m): z = A x + b, sigma, residual r, then part[0] += r h, part[d + 1] += r g,
    # part[1 + q] += r g x_q
    d = at.shape[0]
    m = at.shape[1]
    for i in range(m):
        z[i] = bvec[i]
    for q in range(d):
        xq = X[k, q]
        for i in range(m):
            z[i] += at[q, i] * xq
    f = s * _activate(code, leak, z, h, g, cvec, m)
    r = loss_grad(loss, f, yk)
    rr = h.dtype.type(r)
    for i in range(m):
        gi = rr * g[i]
        g[i] = gi
        part[0, i] += rr * h[i]
        part[d + 1, i] += gi
    for q in range(d):
        xq = X[k, q]
        for i in range(m):
            part[1 + q, i] += g[i] * xq
    return loss_value(loss, f, yk)


#: samples accumulated in the state dtype before being added to the float64 totals
FLUSH = 32


@vjit
def _inner_lane(X, y, lo, hi, at, bvec, cvec, code, leak, s, loss, acc, part, z, h, g):
    rsum = 0.0
    acc[:, :] = 0.0
    part[:, :] = 0.0
    for k in range(lo, hi):
        rsum += _inner_sample(X, k, at, bvec, cvec, code, leak, s, loss, y[k], part, z, h, g)
        if (k - lo) % FLUSH == FLUSH - 1 or k == hi - 1:
            for q in range(part.shape[0]):
                for i in range(part.shape[1]):
                    acc[q, i] += part[q, i]
                    part[q, i] = 0.0
    return rsum


@jit
def _inner_lane_of(X, y, w, code, leak, s, loss, lane):
    # lane ``lane`` of the fixed split of the samples, with its own buffers
    n = X.shape[0]
    nl = w.lacc.shape[0]
    lo = (n * lane) // nl
    hi = (n * (lane + 1)) // nl
    w.lane_risk[lane] = _inner_lane(X, y, lo, hi, w.at, w.bvec, w.cvec, code, leak, s, loss,
                                    w.lacc[lane], w.part[lane], w.zbuf[lane], w.hbuf[lane],
                                    w.gbuf[lane])


@pjit
def _inner_parallel(X, y, w, code, leak, s, loss):
    for k in prange(w.lacc.shape[0]):
        # int64: one index type in the parallel and serial versions
        _inner_lane_of(X, y, w, code, leak, s, loss, np.int64(k))


@jit
def _inner(X, y, w, code, leak, s, loss):
    # as _fused: small problems run the lanes in the calling thread
    if X.shape[0] * w.at.shape[1] >= SERIAL_BELOW:
        _inner_parallel(X, y, w, code, leak, s, loss)
        return
    for lane in range(w.lacc.shape[0]):
        _inner_lane_of(X, y, w, code, leak, s, loss, np.int64(lane))


@jit
def _fused(XT, y, w, code, leak, s, loss):
    # small problems run the lanes in the calling thread: starting the pool costs more
    # than the work (same lanes, same order, so the same numbers either way)
    n = XT.shape[1]
    m = w.at.shape[1]
    if n * m >= SERIAL_BELOW:
        _fused_parallel(XT, y, w, code, leak, s, loss)
        return
    nl = w.lacc.shape[0]
    for lane in range(nl):
        lo = (n * lane) // nl
        hi = (n * (lane + 1)) // nl
        w.lane_risk[lane] = _fused_lane(XT, y, lo, hi, w, lane, code, leak, s, loss)


@vjit
def _block_rows(Zb, nb, lo, y, bvec, cvec, code, leak, s, loss, acc, h, g):
    # rows of Z = X_blk A^T: activation, residual, acc_c += r h, acc_b += r g, and
    # Z <- r g (the matrix whose product with X_blk gives the a-part)
    m = Zb.shape[1]
    d1 = acc.shape[0] - 1
    rsum = 0.0
    for kk in range(nb):
        z = Zb[kk]
        for i in range(m):
            z[i] += bvec[i]
        f = s * _activate(code, leak, z, h, g, cvec, m)
        r = loss_grad(loss, f, y[lo + kk])
        rsum += loss_value(loss, f, y[lo + kk])
        for i in range(m):
            acc[0, i] += r * h[i]
            gi = r * g[i]
            acc[d1, i] += gi
            z[i] = gi
    return rsum


@pjit
def _blas(X, y, w, code, leak, s, loss):
    # sample blocks spread over a fixed number of lanes; each lane calls single-threaded
    # BLAS on its own blocks (the caller limits BLAS to one thread): both cores busy in
    # both phases, and the result does not depend on the number of threads
    n = X.shape[0]
    d = X.shape[1]
    m = w.at.shape[1]
    bsz = w.zbuf.shape[1] // m
    nblocks = (n + bsz - 1) // bsz
    nl = w.lacc.shape[0]
    lane_risk = w.lane_risk
    for k in prange(nl):
        lane = np.int64(k)  # one index type in the parallel and serial versions
        acc = w.lacc[lane]
        acc[:, :] = 0.0
        lane_risk[lane] = _blas_lane(X, y, w, code, leak, s, loss, lane, n, d, m, bsz,
                                     nblocks, nl, acc)


@jit
def _blas_lane(X, y, w, code, leak, s, loss, lane, n, d, m, bsz, nblocks, nl, acc):
    rsum = 0.0
    T = w.tbuf[lane][:d * m].reshape(d, m)
    for blk in range(lane, nblocks, nl):
        lo = blk * bsz
        hi = min(lo + bsz, n)
        nb = hi - lo
        Zb = w.zbuf[lane][:nb * m].reshape(nb, m)
        Xb = X[lo:hi]
        np.dot(Xb, w.at, Zb)
        rsum += _block_rows(Zb, nb, lo, y, w.bvec, w.cvec, code, leak, s, loss, acc,
                            w.hbuf[lane], w.gbuf[lane])
        np.dot(Xb.T, Zb, T)
        for q in range(d):
            for i in range(m):
                acc[1 + q, i] += T[q, i]
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
    for i in range(m):
        w.cvec[i] = theta[i, 0]
        w.bvec[i] = theta[i, d + 1] if bias else 0.0
        for q in range(d):
            w.at[q, i] = theta[i, q + 1]
    s = alpha / m
    if INNER_MIN_D <= d <= FUSED_MAX_D and m >= INNER_MIN_M:
        _inner(X, y, w, code, leak, s, loss)
    elif d <= FUSED_MAX_D:
        if not w.xt_fixed[0]:  # a fresh batch (online oracle): transpose it
            for k in range(n):
                for q in range(d):
                    w.xt[q, k] = X[k, q]
        _fused(w.xt, y, w, code, leak, s, loss)
    else:
        _blas(X, y, w, code, leak, s, loss)
    nl = w.lacc.shape[0]
    rsum = 0.0
    for lane in range(nl):
        rsum += w.lane_risk[lane]
    g = -1.0 / (alpha * n)
    for i in range(m):
        tot = 0.0
        for lane in range(nl):
            tot += w.lacc[lane, 0, i]
        out[i, 0] = g * tot
        gi = g * theta[i, 0]
        for q in range(d + 1):
            tot = 0.0
            for lane in range(nl):
                tot += w.lacc[lane, q + 1, i]
            out[i, q + 1] = gi * tot
        if not bias:
            out[i, d + 1] = 0.0
    return rsum / n


@jit
def sampled_velocity(theta, p, w, out):
    """Velocity on the fixed sample ``p.X, p.y`` (the `sampled` and `dataset` oracles)."""
    return sample_velocity_core(theta, p.X, p.y, p.code, p.leak, p.bias, p.alpha, p.loss,
                                w, out)


@jit
def online_velocity(theta, p, w, out):
    """Velocity on a fresh batch drawn from ``p.gen`` (the `online` oracle, SGD).

    The batch is drawn into ``w.xb`` and labelled by the teacher ``p.teacher``
    (with the teacher's own activation and no 1/m factor); the generator's state
    advances, so a run is reproducible from its seed and resumable from its state.
    """
    draw_inputs(p.gen, p.sphere, w.xb)
    forward(p.teacher, w.xb, p.tcode, p.leak, p.tbias, 1.0, w.yb)
    if p.loss == LOGISTIC:
        for k in range(w.yb.shape[0]):
            w.yb[k] = 1.0 if w.yb[k] >= 0 else -1.0
    return sample_velocity_core(theta, w.xb, w.yb, p.code, p.leak, p.bias, p.alpha, p.loss,
                                w, out)
