"""Exact population risk and mean-field velocity for Gaussian (or sphere) inputs.

Squared loss, teacher f*(x) = sum_l c*_l sigma(a*_l . x + b*_l), student
f(x) = s sum_i c_i sigma(a_i . x + b_i) with s = alpha / m. With the pair
expectations of :mod:`particles.kernels.pairs` (K = A0):

    R = 1/2 [ s^2 sum_ij c_i c_j K_ij - 2 s sum_il c_i c*_l K_il + sum_lk c*_l c*_k K_lk ]

and the velocity v_i = -(1/alpha) E[(f - y) grad_theta phi(theta_i; x)] of
docs/theory.md ("Mean-field gradient flow", with the 1/alpha of "Output scale"), where with weights
w_j = s c_j (students) and w_l = -c*_l (teacher):

    v_c_i = -(1/alpha) sum_j w_j A0_ij
    v_a_i = -(c_i/alpha) [ (sum_j w_j A20_ij) a_i + sum_j w_j A11_ij a_j ]
    v_b_i = -(c_i/alpha) sum_j w_j A1_ij

The i = j term is included (the self-interaction).

Blocked, symmetric evaluation. The students are cut into row blocks of ``BLOCK``
particles; each pair of blocks (I, J >= I) is visited once: its Gram block
A_I A_J^T comes from BLAS, every pair (i, j) is evaluated once and feeds both rows
(A0 and A11 are symmetric, A20 and A1 are obtained for both orders from the same
transcendental work), and the two products (w o A11)_IJ A_J and (w o A11)_IJ^T A_I
are small BLAS calls. The block pairs are spread over a fixed number of lanes, each
with its own accumulators, reduced in a fixed order: the result does not depend on
the number of threads. The pair evaluations of bias-free ReLU (arc-cosine) and of ReLU with
bias (truncated bivariate normal moments: Genz's bivariate CDF, Phi and phi from
:mod:`particles.kernels.vmath`) run as vectorised loops across a row of columns; the
other activations, and biased pairs with |rho| >= 0.925, call the scalar functions of
:mod:`particles.kernels.pairs`. Memory is O(lanes * (m d + BLOCK^2)), never (m x m), so
m = 10^5 fits in well under 2 GiB. Work: m^2 d (Gram, half) + 2 m^2 d (products)
flops and m^2 / 2 pair evaluations.
"""
import math

import numpy as np
from numba import literally, prange
from numba.extending import overload

from . import activations as act
from .._numba.jit import OVERLOAD_FLAGS, jit, pjit, vjit
from .bvn import _W6, _W12, _W20, _X6, _X12, _X20, norm_cdf, norm_pdf
from .pairs import (erf_pair_both, leaky_pair_both, quadrature_pair_both, relu_arccos_both,
                    relu_pair_both)
from .vmath import (_MOREBITS, _P0, _P1, _P2, _P3, _P4, _Q0, _Q1, _Q2, _Q3, _Q4, _T3P8,
    norm_cdf_rows, vasin, vexp)
from .vmath import vsin as _vsin

BLOCK = 128
LANES = 4

_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / _TWO_PI


def _pair_both(code, leak, bias, rows, b1, b2, s1, s2, rho, nodes, weights, counts):
    # (A0, A11, A20_ij, A20_ji, A1_ij, A1_ji) for the pair (i, j), both orders, from the
    # pair function of this kind of rows (_PAIR_OF_ROWS). Compiled, ``rows`` is a
    # literal and _pair_both_typed makes the choice while Numba types the caller, so
    # only that function is compiled
    return _PAIR_OF_ROWS[rows](code, leak, bias, rows, b1, b2, s1, s2, rho, nodes, weights,
                               counts)


def _pair_relu(code, leak, bias, rows, b1, b2, s1, s2, rho, nodes, weights, counts):
    a0, a11, a20, a20r, _, _ = relu_arccos_both(s1, s2, rho)
    return a0, a11, a20, a20r, 0.0, 0.0


def _pair_relu_bias(code, leak, bias, rows, b1, b2, s1, s2, rho, nodes, weights, counts):
    return relu_pair_both(b1, b2, s1, s2, rho, bias)


def _pair_erf_bias(code, leak, bias, rows, b1, b2, s1, s2, rho, nodes, weights, counts):
    return erf_pair_both(b1, b2, s1, s2, rho, bias)


def _pair_other(code, leak, bias, rows, b1, b2, s1, s2, rho, nodes, weights, counts):
    if code == act.LEAKY_RELU:
        return leaky_pair_both(b1, b2, s1, s2, rho, bias, leak)
    if code == act.ERF:
        return erf_pair_both(b1, b2, s1, s2, rho, bias)
    return quadrature_pair_both(code, leak, b1, b2, s1, s2, rho, nodes, weights, counts)


@overload(_pair_both, prefer_literal=True, inline="always", **OVERLOAD_FLAGS)
def _pair_both_typed(code, leak, bias, rows, b1, b2, s1, s2, rho, nodes, weights, counts):
    # the pair function of one kind of rows, chosen while Numba types the caller: a
    # bias-free ReLU run compiles neither the bivariate normal nor the quadrature
    # (``rows`` is always a literal: exact_velocity asks for one)
    return _PAIR_OF_ROWS.get(getattr(rows, "literal_value", None))


@vjit
def _relu_row(ws, G, M, acc, norms, inv_norms, i, ii, j0, nj, diagonal, ra0, rq):
    # One row of a block pair for bias-free ReLU (arc-cosine). The first loop has no
    # calls and only selects, so LLVM vectorises it; the second accumulates.
    si = norms[i]
    inv_si = inv_norms[i]
    wi = ws[i]
    a0_i = 0.0
    a20_i = 0.0
    jstart = 0
    if diagonal:
        # the neuron with itself: theta = 0, A0 = |a|^2 / 2, A11 = 1/2, A20 = 0
        a0_i += wi * 0.5 * si * si
        M[ii, ii] = 0.5
        jstart = ii + 1
    # constants in the state dtype: float32 states get float32 (16-wide) arithmetic
    tp = G.dtype.type
    one = tp(1.0)
    zero = tp(0.0)
    t3p8 = tp(_T3P8)
    p66 = tp(0.66)
    pi = tp(math.pi)
    pi2 = tp(0.5 * math.pi)
    pi4 = tp(0.25 * math.pi)
    mb = tp(_MOREBITS)
    mb2 = tp(0.5 * _MOREBITS)
    i2p = tp(_INV_TWO_PI)
    p0, p1, p2, p3, p4 = tp(_P0), tp(_P1), tp(_P2), tp(_P3), tp(_P4)
    q0, q1, q2, q3, q4 = tp(_Q0), tp(_Q1), tp(_Q2), tp(_Q3), tp(_Q4)
    si_t = tp(si)
    inv_si_t = tp(inv_si)
    # views of the column block: an index j0 + jj would need Numba's wrap-around check
    # on every element, which keeps LLVM from vectorising the loops
    nrm_j = norms[j0:j0 + nj]
    inv_j = inv_norms[j0:j0 + nj]
    ws_j = ws[j0:j0 + nj]
    acc0_j = acc[0, j0:j0 + nj]
    acc2_j = acc[2, j0:j0 + nj]
    g_i = G[ii]
    m_i = M[ii]
    for jj in range(jstart, nj):
        sj = tp(nrm_j[jj])
        rho = min(max(g_i[jj] * inv_si_t * tp(inv_j[jj]), -one), one)
        r = math.sqrt(max((one - rho) * (one + rho), zero))
        # pi - atan2(r, rho) through Cephes' arctan of x = r / |rho| >= 0
        x = r / abs(rho)
        big = x > t3p8
        mid = x > p66
        xr = -one / x if big else ((x - one) / (x + one) if mid else x)
        y0 = pi2 if big else (pi4 if mid else zero)
        more = mb if big else (mb2 if mid else zero)
        z = xr * xr
        pz = (((p0 * z + p1) * z + p2) * z + p3) * z + p4
        qz = ((((z + q0) * z + q1) * z + q2) * z + q3) * z + q4
        at = y0 + ((xr * (z * pz / qz) + xr) + more)
        pmt = at if rho < zero else pi - at
        ra0[jj] = si_t * sj * (r + pmt * rho) * i2p
        rq[jj] = r * i2p
        m_i[jj] = pmt * i2p
    for jj in range(jstart, nj):
        wj = ws_j[jj]
        a0_i += wj * ra0[jj]
        a20_i += wj * rq[jj] * nrm_j[jj]
        acc0_j[jj] += wi * ra0[jj]
        acc2_j[jj] += wi * rq[jj] * si * inv_j[jj]
    if diagonal:
        for jj in range(jstart, nj):
            M[jj, ii] = M[ii, jj]
    acc[0, i] += a0_i
    acc[2, i] += a20_i * inv_si


@vjit
def _relu_block(ws, G, M, acc, norms, inv_norms, i0, ni, j0, nj, diagonal, ra0, rq):
    # the rows of one block pair. Two call sites keep _relu_row a call: inlined into
    # the loop that calls it (one call site), its loops stay scalar, 13 ns per pair
    # instead of 1.9 (measured with Numba 0.68; benchmarks/results/cost*.md track it)
    if diagonal:
        for ii in range(ni):
            _relu_row(ws, G, M, acc, norms, inv_norms, i0 + ii, ii, j0, nj, True, ra0, rq)
    else:
        for ii in range(ni):
            _relu_row(ws, G, M, acc, norms, inv_norms, i0 + ii, ii, j0, nj, False, ra0, rq)


#: rows of ``ExactWork.vbuf``: per-column work of the vectorised biased-ReLU rows
(_V_RHO, _V_R, _V_ASR, _V_HK, _V_HS, _V_Y, _V_BSUM, _V_AU, _V_AV, _V_FU, _V_FV, _V_B1,
 _V_B2, _V_A0, _V_A11, _V_A20, _V_A20R, _V_A1, _V_A1R) = range(19)
V_ROWS = 19
#: from this |rho| on, a pair takes the scalar path (Genz's asymptotic expansion)
_RHO_VECTOR_MAX = 0.925


@vjit
def _bvn_nodes(asr, hk, hs, y, bsum, nj, x, w):
    # bsum = sum_q w_q exp((sin(asr x_q) hk - hs) / (1 - sin^2)) (Plackett's integrand,
    # Genz's rule), the exponent first so that both loops vectorise
    for jj in range(nj):
        bsum[jj] = 0.0
    for q in range(x.shape[0]):
        xq = x[q]
        wq = w[q]
        for jj in range(nj):
            sn = _vsin(asr[jj] * xq)
            y[jj] = (sn * hk[jj] - hs[jj]) / (1.0 - sn * sn)
        for jj in range(nj):
            bsum[jj] += wq * vexp(y[jj])


@vjit
def _rows_rho(g_row, s1, nrm_j, rho, nj):
    # rho (clamped to [-1, 1]; 0 when a norm is 0, as the general path)
    s1c = max(s1, 1e-150)
    for jj in range(nj):
        s2 = nrm_j[jj]
        rj = g_row[jj] / (s1c * max(s2, 1e-150)) if s1 > 0.0 and s2 > 0.0 else 0.0
        rho[jj] = min(max(rj, -1.0), 1.0)


@vjit
def _rows_angle(rho, rr, asr, nj):
    # r = sqrt(1 - rho^2) and asin(rho) / 2, with rho = 0 on the scalar lanes; returns
    # Genz's rule for the row: 0, 1, 2 for 6, 12, 20 nodes (counts, not a max: a float
    # max reduction does not vectorise without no-NaN fast math)
    n30 = 0
    n75 = 0
    for jj in range(nj):
        rj = rho[jj]
        a = abs(rj)
        rv = rj if a < _RHO_VECTOR_MAX else 0.0
        rr[jj] = math.sqrt((1.0 - rv) * (1.0 + rv))
        asr[jj] = 0.5 * vasin(rv)
        n30 += 1 if 0.3 <= a < _RHO_VECTOR_MAX else 0
        n75 += 1 if 0.75 <= a < _RHO_VECTOR_MAX else 0
    return 2 if n75 > 0 else (1 if n30 > 0 else 0)


@vjit
def _rows_hk(h1, k_j, hk, hs, nj):
    # Genz's dh dk and (dh^2 + dk^2) / 2 with dh = -h, dk = -k
    for jj in range(nj):
        k = k_j[jj]
        hk[jj] = h1 * k
        hs[jj] = 0.5 * (h1 * h1 + k * k)


@vjit
def _rows_uv(h1, k_j, rho, rr, au, av, nj):
    # (k - rho h) / r and (h - rho k) / r, the arguments of Phi
    for jj in range(nj):
        rj = rho[jj]
        rv = rj if abs(rj) < _RHO_VECTOR_MAX else 0.0
        k = k_j[jj]
        au[jj] = (k - rv * h1) / rr[jj]
        av[jj] = (h1 - rv * k) / rr[jj]


@vjit
def _rows_p(cdf_h1, cdf_k, bsum, asr, p, nj):
    # the bivariate CDF Phi2(h, k; rho) from the node sum
    inv_2pi = 1.0 / (2.0 * math.pi)
    for jj in range(nj):
        p[jj] = bsum[jj] * asr[jj] * inv_2pi + cdf_h1 * cdf_k[jj]


@vjit
def _rows_rpdf(rr, au, out, nj):
    # r phi(au)
    isq2pi = 1.0 / math.sqrt(2.0 * math.pi)
    for jj in range(nj):
        out[jj] = rr[jj] * isq2pi * vexp(-0.5 * au[jj] * au[jj])


@vjit
def _rows_expect(pdf_h1, pdf_k, rho, fu, fv, ex, ey, nj):
    # E[x 1(x > -h, y > -k)]-type terms: ex, ey
    for jj in range(nj):
        rj = rho[jj]
        rv = rj if abs(rj) < _RHO_VECTOR_MAX else 0.0
        ex[jj] = pdf_h1 * fu[jj] + rv * pdf_k[jj] * fv[jj]
        ey[jj] = pdf_k[jj] * fv[jj] + rv * pdf_h1 * fu[jj]


@vjit
def _rows_exy(xpdf_h1, pdf_h1, xpdf_k, rho, fu, fv, rpu, p, exy, nj):
    for jj in range(nj):
        rj = rho[jj]
        rv = rj if abs(rj) < _RHO_VECTOR_MAX else 0.0
        exy[jj] = -rv * xpdf_h1 * fu[jj] + pdf_h1 * rpu[jj] + rv * p[jj] - rv * xpdf_k[jj] * fv[jj]


@vjit
def _rows_a0(s1, b1, nrm_j, bias_j, p, ex, ey, exy, a0, a1, a1r, nj):
    s1c = max(s1, 1e-150)
    for jj in range(nj):
        s2 = max(nrm_j[jj], 1e-150)
        b2 = bias_j[jj]
        a0[jj] = b1 * b2 * p[jj] + b1 * s2 * ey[jj] + b2 * s1c * ex[jj] + s1c * s2 * exy[jj]
        a1[jj] = b2 * p[jj] + s2 * ey[jj]
        a1r[jj] = b1 * p[jj] + s1c * ex[jj]


@vjit
def _rows_a20(s1, h1, pdf_h1, nrm_j, k_j, rho, fu, rpu, a20, nj):
    # A20 = phi(h) / s1 * s2 * (u Phi(u / r) + r phi(u / r)), u = k - rho h
    s1c = max(s1, 1e-150)
    c = pdf_h1 / s1c
    for jj in range(nj):
        rj = rho[jj]
        rv = rj if abs(rj) < _RHO_VECTOR_MAX else 0.0
        s2 = max(nrm_j[jj], 1e-150)
        a20[jj] = c * s2 * ((k_j[jj] - rv * h1) * fu[jj] + rpu[jj])


@vjit
def _rows_a20r(s1, h1, pdf_k, nrm_j, k_j, rho, fv, rpv, a20r, nj):
    # A20' = phi(k) / s2 * s1 * (v Phi(v / r) + r phi(v / r)), v = h - rho k
    s1c = max(s1, 1e-150)
    for jj in range(nj):
        rj = rho[jj]
        rv = rj if abs(rj) < _RHO_VECTOR_MAX else 0.0
        s2 = max(nrm_j[jj], 1e-150)
        a20r[jj] = pdf_k[jj] / s2 * s1c * ((h1 - rv * k_j[jj]) * fv[jj] + rpv[jj])


@vjit
def _rows_re(g_row, q1, q_j, rho, nj):
    # erf: the correlation of the Gaussian pair behind Williams' formula,
    # 2 a_i . a_j / (q_i q_j) with q = sqrt(1 + 2 |a|^2), clamped to [-1, 1]
    for jj in range(nj):
        rho[jj] = min(max(2.0 * g_row[jj] / (q1 * q_j[jj]), -1.0), 1.0)


@vjit
def _erf_phi2(h1, k_j, rho, rr, out, nj):
    # the bivariate normal density at (h, k) with correlation re
    inv_2pi = 1.0 / (2.0 * math.pi)
    for jj in range(nj):
        rj = rho[jj]
        rv = rj if abs(rj) < _RHO_VECTOR_MAX else 0.0
        k = k_j[jj]
        r = rr[jj]
        out[jj] = vexp(-(h1 * h1 - 2.0 * rv * h1 * k + k * k) / (2.0 * r * r)) * inv_2pi / r


@vjit
def _erf_a0(cdf_h1, cdf_k, p, a0, nj):
    # E erf(z) erf(z') = 4 Phi2(h, k; re) - 2 Phi(h) - 2 Phi(k) + 1
    for jj in range(nj):
        a0[jj] = 4.0 * p[jj] - 2.0 * cdf_h1 - 2.0 * cdf_k[jj] + 1.0


@vjit
def _erf_a11(q1, q_j, phi2, a11, nj):
    for jj in range(nj):
        a11[jj] = 8.0 * phi2[jj] / (q1 * q_j[jj])


@vjit
def _erf_a20(q, xpdf, g, rho, phi2, a20, nj):
    # -2 / q^2 (2 h phi(h) (2 Phi(.) - 1) + 4 re phi2), q and h phi(h) per row or column
    for jj in range(nj):
        rj = rho[jj]
        rv = rj if abs(rj) < _RHO_VECTOR_MAX else 0.0
        a20[jj] = -2.0 / (q[jj] * q[jj]) * (2.0 * xpdf[jj] * (2.0 * g[jj] - 1.0)
                                            + 4.0 * rv * phi2[jj])


@vjit
def _erf_a1(q, pdf, g, a1, nj):
    # 2 sqrt(2) / q phi(h) (2 Phi(.) - 1)
    c = 2.0 * math.sqrt(2.0)
    for jj in range(nj):
        a1[jj] = c / q[jj] * pdf[jj] * (2.0 * g[jj] - 1.0)


@vjit
def _fill(out, value, nj):
    for jj in range(nj):
        out[jj] = value


@vjit
def _accumulate_row(acc, m_row, ws, i, j0, nj, V):
    # an off-diagonal row: i's sums over the columns and each column's share of i
    ws_j = ws[j0:j0 + nj]
    acc0_j = acc[0, j0:j0 + nj]
    acc2_j = acc[2, j0:j0 + nj]
    acc3_j = acc[3, j0:j0 + nj]
    a0 = V[_V_A0]
    a11 = V[_V_A11]
    a20 = V[_V_A20]
    a20r = V[_V_A20R]
    a1 = V[_V_A1]
    a1r = V[_V_A1R]
    wi = ws[i]
    s0 = 0.0
    s2 = 0.0
    s3 = 0.0
    for jj in range(nj):
        wj = ws_j[jj]
        s0 += wj * a0[jj]
        s2 += wj * a20[jj]
        s3 += wj * a1[jj]
        m_row[jj] = a11[jj]
        acc0_j[jj] += wi * a0[jj]
        acc2_j[jj] += wi * a20r[jj]
        acc3_j[jj] += wi * a1r[jj]
    acc[0, i] += s0
    acc[2, i] += s2
    acc[3, i] += s3


@jit
def _bias_block(erf, G, M, acc, ws, norms, biases, hinfo, i0, ni, j0, nj, diagonal, V):
    """The pairs of one block pair for ReLU (``erf`` False) or erf with bias: vectorised
    rows (Genz's bivariate normal CDF with vexp/vsin, Phi through norm_cdf_rows), the
    scalar relu_pair_both / erf_pair_both for a correlation |rho| >= 0.925 (for erf, the
    correlation re of Williams' Gaussian pair) and for i = j, accumulated as the general
    path does. Each loop touches
    few arrays: LLVM checks every pair of arrays for overlap before it vectorises a
    loop, and gives up past a handful of them."""
    nrm_j = norms[j0:j0 + nj]
    bias_j = biases[j0:j0 + nj]
    k_j = hinfo[0, j0:j0 + nj]
    cdf_k = hinfo[1, j0:j0 + nj]
    pdf_k = hinfo[2, j0:j0 + nj]
    xpdf_k = hinfo[3, j0:j0 + nj]
    q_j = hinfo[4, j0:j0 + nj]
    rho = V[_V_RHO, :nj]
    rr = V[_V_R, :nj]
    asr = V[_V_ASR, :nj]
    hk = V[_V_HK, :nj]
    hs = V[_V_HS, :nj]
    au = V[_V_AU, :nj]
    av = V[_V_AV, :nj]
    fu = V[_V_FU, :nj]
    fv = V[_V_FV, :nj]
    bsum = V[_V_BSUM, :nj]
    a0 = V[_V_A0, :nj]
    a11 = V[_V_A11, :nj]
    a20 = V[_V_A20, :nj]
    a20r = V[_V_A20R, :nj]
    a1 = V[_V_A1, :nj]
    a1r = V[_V_A1R, :nj]
    # reused once their first use is over: hk/hs -> ex/ey, y -> exy (phi2 for erf)
    ex = hk
    ey = hs
    exy = V[_V_Y, :nj]
    rpu = V[_V_B1, :nj]
    rpv = V[_V_B2, :nj]
    for ii in range(ni):
        i = i0 + ii
        s1 = norms[i]
        b1 = biases[i]
        h1 = hinfo[0, i]
        if erf:
            _rows_re(G[ii], hinfo[4, i], q_j, rho, nj)
        else:
            _rows_rho(G[ii], s1, nrm_j, rho, nj)
        rule = _rows_angle(rho, rr, asr, nj)
        _rows_hk(h1, k_j, hk, hs, nj)
        _rows_uv(h1, k_j, rho, rr, au, av, nj)
        if rule == 0:  # Genz's choice of rule, for the largest |rho| of the row
            _bvn_nodes(asr, hk, hs, exy, bsum, nj, _X6, _W6)
        elif rule == 1:
            _bvn_nodes(asr, hk, hs, exy, bsum, nj, _X12, _W12)
        else:
            _bvn_nodes(asr, hk, hs, exy, bsum, nj, _X20, _W20)
        _rows_p(hinfo[1, i], cdf_k, bsum, asr, a11, nj)
        norm_cdf_rows(au, fu)
        norm_cdf_rows(av, fv)
        if erf:
            phi2 = exy
            _erf_phi2(h1, k_j, rho, rr, phi2, nj)
            _erf_a0(hinfo[1, i], cdf_k, a11, a0, nj)
            _erf_a11(hinfo[4, i], q_j, phi2, a11, nj)
            # the row's own q and h phi(h) as arrays (au, av are free again)
            _fill(au, hinfo[4, i], nj)
            _fill(av, hinfo[3, i], nj)
            _erf_a20(au, av, fu, rho, phi2, a20, nj)
            _erf_a20(q_j, xpdf_k, fv, rho, phi2, a20r, nj)
            _fill(av, hinfo[2, i], nj)
            _erf_a1(au, av, fu, a1, nj)
            _erf_a1(q_j, pdf_k, fv, a1r, nj)
        else:
            # r phi(au), r phi(av) into arrays of their own: a loop writing the array it
            # reads fails LLVM's overlap check and runs scalar (5x slower, measured)
            _rows_rpdf(rr, au, rpu, nj)
            _rows_rpdf(rr, av, rpv, nj)
            _rows_expect(hinfo[2, i], pdf_k, rho, fu, fv, ex, ey, nj)
            _rows_exy(hinfo[3, i], hinfo[2, i], xpdf_k, rho, fu, fv, rpu, a11, exy, nj)
            _rows_a0(s1, b1, nrm_j, bias_j, a11, ex, ey, exy, a0, a1, a1r, nj)
            _rows_a20(s1, h1, hinfo[2, i], nrm_j, k_j, rho, fu, rpu, a20, nj)
            _rows_a20r(s1, h1, pdf_k, nrm_j, k_j, rho, fv, rpv, a20r, nj)
        jstart = ii if diagonal else 0
        g_row = G[ii]
        for jj in range(jstart, nj):
            if abs(rho[jj]) >= _RHO_VECTOR_MAX or (diagonal and jj == ii):
                s2 = nrm_j[jj]
                if diagonal and jj == ii:
                    r_ = 1.0
                elif s1 > 0.0 and s2 > 0.0:  # the correlation of a_i and a_j itself
                    r_ = min(max(g_row[jj] / (s1 * s2), -1.0), 1.0)
                else:
                    r_ = 0.0
                if erf:
                    (a0[jj], a11[jj], a20[jj], a20r[jj], a1[jj],
                     a1r[jj]) = erf_pair_both(b1, bias_j[jj], s1, s2, r_, True)
                else:
                    (a0[jj], a11[jj], a20[jj], a20r[jj], a1[jj],
                     a1r[jj]) = relu_pair_both(b1, bias_j[jj], s1, s2, r_, True)
        if diagonal:
            wi = ws[i]
            for jj in range(jstart, nj):
                j = j0 + jj
                wj = ws[j]
                acc[0, i] += wj * a0[jj]
                acc[2, i] += wj * a20[jj]
                acc[3, i] += wj * a1[jj]
                M[ii, jj] = a11[jj]
                M[jj, ii] = a11[jj]
                if i != j:
                    acc[0, j] += wi * a0[jj]
                    acc[2, j] += wi * a20r[jj]
                    acc[3, j] += wi * a1r[jj]
        else:
            _accumulate_row(acc, M[ii], ws, i, j0, nj, V)


@vjit
def _scale_columns(out, M, w):
    # out = M o w (w scales the columns); loops index row views (see _relu_row)
    for ii in range(M.shape[0]):
        o = out[ii]
        r = M[ii]
        for jj in range(M.shape[1]):
            o[jj] = r[jj] * w[jj]


@vjit
def _scale_rows(M, w):
    # M <- w o M (w scales the rows), in place
    for ii in range(M.shape[0]):
        r = M[ii]
        wi = w[ii]
        for jj in range(M.shape[1]):
            r[jj] *= wi


@vjit
def _add_rows(dst, src):
    # dst += src, row by row (dst a block of rows of a C array)
    for ii in range(src.shape[0]):
        a = dst[ii]
        b = src[ii]
        for k in range(src.shape[1]):
            a[k] += b[k]


#: how the student-student rows of a block pair are evaluated (:func:`rows_kind`)
ROWS_PAIRWISE, ROWS_RELU, ROWS_RELU_BIAS, ROWS_ERF_BIAS = 0, 1, 2, 3


def rows_kind(code, bias):
    """How the exact kernel evaluates the student-student pairs of an activation.

    ``ROWS_RELU``: bias-free ReLU, vectorised arc-cosine rows; ``ROWS_RELU_BIAS`` and
    ``ROWS_ERF_BIAS``: vectorised biased rows (which need ``ExactWork.vbuf``);
    ``ROWS_PAIRWISE``: pair by pair. The oracle passes it to :func:`exact_velocity` as a
    compile-time constant, so that a run compiles the code of its own kind only.

    Parameters
    ----------
    code : int
        Activation code (:mod:`particles.kernels.activations`).
    bias : bool
        Whether any bias (student or teacher) is nonzero.

    Returns
    -------
    int
        One of ``ROWS_PAIRWISE``, ``ROWS_RELU``, ``ROWS_RELU_BIAS``, ``ROWS_ERF_BIAS``.
    """
    if code == act.RELU:
        return ROWS_RELU_BIAS if bias else ROWS_RELU
    if code == act.ERF and bias:
        return ROWS_ERF_BIAS
    return ROWS_PAIRWISE


def _vector_rows(rows, w, G, M, acc, i0, ni, j0, nj, diagonal, lane):
    # the vectorised rows of a block pair by this kind's function (_VECTOR_ROWS; none
    # for ROWS_PAIRWISE). Compiled, ``rows`` is a literal and _vector_rows_typed makes
    # the choice while Numba types the caller: only that block function is compiled
    _VECTOR_ROWS[rows](rows, w, G, M, acc, i0, ni, j0, nj, diagonal, lane)


def _relu_rows(rows, w, G, M, acc, i0, ni, j0, nj, diagonal, lane):
    _relu_block(w.ws, G, M, acc, w.norms, w.inv_norms, i0, ni, j0, nj, diagonal,
                w.rbuf[lane, 0], w.rbuf[lane, 1])


def _relu_bias_rows(rows, w, G, M, acc, i0, ni, j0, nj, diagonal, lane):
    _bias_block(False, G, M, acc, w.ws, w.norms, w.biases, w.hinfo, i0, ni, j0, nj,
                diagonal, w.vbuf[lane])


def _erf_bias_rows(rows, w, G, M, acc, i0, ni, j0, nj, diagonal, lane):
    _bias_block(True, G, M, acc, w.ws, w.norms, w.biases, w.hinfo, i0, ni, j0, nj,
                diagonal, w.vbuf[lane])


def _no_rows(rows, w, G, M, acc, i0, ni, j0, nj, diagonal, lane):
    pass


@overload(_vector_rows, prefer_literal=True, inline="always", **OVERLOAD_FLAGS)
def _vector_rows_typed(rows, w, G, M, acc, i0, ni, j0, nj, diagonal, lane):
    return _VECTOR_ROWS.get(getattr(rows, "literal_value", None))


#: the functions of each kind of rows (plain Python: compiled through the overloads)
_PAIR_OF_ROWS = {ROWS_RELU: _pair_relu, ROWS_RELU_BIAS: _pair_relu_bias,
                 ROWS_ERF_BIAS: _pair_erf_bias, ROWS_PAIRWISE: _pair_other}
_VECTOR_ROWS = {ROWS_RELU: _relu_rows, ROWS_RELU_BIAS: _relu_bias_rows,
                ROWS_ERF_BIAS: _erf_bias_rows, ROWS_PAIRWISE: _no_rows}


@jit
def _view(buf, rows, cols):
    # C-contiguous (rows, cols) view on the start of a flat buffer
    return buf[:rows * cols].reshape(rows, cols)


@jit
def _lane(theta, p, w, s, rows, lane):
    # the work of one lane (a separate function: LLVM vectorises the row loops here,
    # not when they are inlined into the parallel loop body)
    m = theta.shape[0]
    d = theta.shape[1] - 2
    teacher = p.teacher
    m0 = teacher.shape[0]
    nb = (m + BLOCK - 1) // BLOCK
    nl = w.lacc.shape[0]
    a_all = w.a_all
    norms = w.norms
    bias = p.bias
    acc = w.lacc[lane]
    ga = w.lga[lane]
    acc[:, :] = 0.0
    ga[:, :] = 0.0
    gbuf = w.gbuf[lane]
    mbuf = w.mbuf[lane]
    tbuf = w.tbuf[lane]
    # student-student block pairs (I <= J), round robin over lanes
    pidx = 0
    for bi in range(nb):
        for bj in range(bi, nb):
            mine = pidx % nl == lane
            pidx += 1
            if not mine:
                continue
            i0 = bi * BLOCK
            i1 = min(i0 + BLOCK, m)
            j0 = bj * BLOCK
            j1 = min(j0 + BLOCK, m)
            ni = i1 - i0
            nj = j1 - j0
            G = _view(gbuf, ni, nj)
            M = _view(mbuf, ni, nj)
            np.dot(a_all[i0:i1], a_all[j0:j1].T, G)
            _vector_rows(rows, w, G, M, acc, i0, ni, j0, nj, bi == bj, lane)
            for ii in range(ni if rows == ROWS_PAIRWISE else 0):
                i = i0 + ii
                s1 = norms[i]
                b1 = theta[i, d + 1] if bias else 0.0
                wi = s * theta[i, 0]
                jstart = ii if bi == bj else 0
                for jj in range(jstart, nj):
                    j = j0 + jj
                    s2 = norms[j]
                    if i == j:
                        rho = 1.0
                    elif s1 > 0.0 and s2 > 0.0:
                        rho = G[ii, jj] / (s1 * s2)
                    else:
                        rho = 0.0
                    b2 = theta[j, d + 1] if bias else 0.0
                    wj = s * theta[j, 0]
                    a0, a11, a20, a20r, a1, a1r = _pair_both(
                        p.code, p.leak, bias, rows, b1, b2, s1, s2, rho, p.nodes,
                        p.weights, p.counts)
                    acc[0, i] += wj * a0
                    acc[2, i] += wj * a20
                    acc[3, i] += wj * a1
                    M[ii, jj] = a11
                    if i != j:
                        acc[0, j] += wi * a0
                        acc[2, j] += wi * a20r
                        acc[3, j] += wi * a1r
                        if bi == bj:
                            M[jj, ii] = a11
            # ga_I += (M o w_J) A_J and, off the diagonal, ga_J += (M^T o w_I) A_I
            T = _view(tbuf, BLOCK, d)
            _scale_columns(G, M, w.ws[j0:j1])
            Ti = T[:ni]
            np.dot(G, a_all[j0:j1], Ti)
            _add_rows(ga[i0:i1], Ti)
            if bi != bj:
                # M o w_I in place, then its transpose through BLAS (no copy)
                _scale_rows(M, w.ws[i0:i1])
                Tj = T[:nj]
                np.dot(M.T, a_all[i0:i1], Tj)
                _add_rows(ga[j0:j1], Tj)
    # student-teacher blocks, row block bi on lane bi % nl
    for bi in range(nb):
        if bi % nl != lane:
            continue
        i0 = bi * BLOCK
        i1 = min(i0 + BLOCK, m)
        ni = i1 - i0
        G = _view(gbuf, ni, m0)
        np.dot(a_all[i0:i1], a_all[m:m + m0].T, G)
        for ii in range(ni):
            i = i0 + ii
            s1 = norms[i]
            b1 = theta[i, d + 1] if bias else 0.0
            for ll in range(m0):
                s2 = norms[m + ll]
                if s1 > 0.0 and s2 > 0.0:
                    rho = G[ii, ll] / (s1 * s2)
                else:
                    rho = 0.0
                b2 = teacher[ll, d + 1] if bias else 0.0
                wl = -teacher[ll, 0]
                a0, a11, a20, _, a1, _ = _pair_both(p.code, p.leak, bias, rows, b1, b2,
                                                    s1, s2, rho, p.nodes, p.weights,
                                                    p.counts)
                acc[1, i] += wl * a0
                acc[2, i] += wl * a20
                acc[3, i] += wl * a1
                G[ii, ll] = wl * a11
        T = _view(tbuf, BLOCK, d)
        Ti = T[:ni]
        np.dot(G, a_all[m:m + m0], Ti)
        _add_rows(ga[i0:i1], Ti)


@pjit
def _lanes(theta, p, w, s, rows):
    for lane in prange(w.lacc.shape[0]):
        # int64: the parallel body types its index as uint64, the serial fallback as
        # int64; one type means _lane compiles once (saves 3.7 s of a first run)
        _lane(theta, p, w, s, rows, np.int64(lane))


@jit
def exact_velocity(theta, p, w, out, rows):
    """Population risk at ``theta`` and the mean-field velocity written into ``out``.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
        Particles (c | a | b), float64 or float32.
    p : ExactParams
        Problem constants (see :func:`particles.risk.exact_oracle`).
    w : ExactWork
        Preallocated work arrays.
    out : ndarray, shape (m, d + 2)
        Receives the velocity (zero in the b column for bias-free models).
    rows : int
        :func:`rows_kind` of the activation and bias, a literal constant in the caller
        (each kind compiles its own kernel).

    Returns
    -------
    float
        The risk R(f) (not divided by alpha^2), accumulated in float64.
    """
    literally(rows)  # one compiled kernel per kind of rows
    m = theta.shape[0]
    d = theta.shape[1] - 2
    teacher = p.teacher
    m0 = teacher.shape[0]
    s = p.alpha / m
    for i in range(m):
        nrm = 0.0
        for k in range(d):
            v = theta[i, k + 1]
            w.a_all[i, k] = v
            nrm += v * v
        w.norms[i] = np.sqrt(nrm)
        w.ws[i] = s * theta[i, 0]
        # a neuron with a = 0 contributes nothing; 0 * inf is avoided by the floor
        w.inv_norms[i] = 1.0 / max(w.norms[i], 1e-150)
    for l in range(m0):
        nrm = 0.0
        for k in range(d):
            v = teacher[l, k + 1]
            w.a_all[m + l, k] = v
            nrm += v * v
        w.norms[m + l] = np.sqrt(nrm)
        w.inv_norms[m + l] = 1.0 / max(w.norms[m + l], 1e-150)
    if rows == ROWS_RELU_BIAS or rows == ROWS_ERF_BIAS:
        # per neuron: the bias b, h = b / |a| (ReLU) or sqrt(2) b / q with
        # q = sqrt(1 + 2 |a|^2) (erf), Phi(h), phi(h), h phi(h) and q: the biased rows
        # read them instead of evaluating them once per pair
        for n in range(m + m0):
            b = (theta[n, d + 1] if n < m else teacher[n - m, d + 1])
            w.biases[n] = b
            q = math.sqrt(1.0 + 2.0 * w.norms[n] * w.norms[n])
            h = (math.sqrt(2.0) * b / q if rows == ROWS_ERF_BIAS
                 else b / max(w.norms[n], 1e-150))
            w.hinfo[4, n] = q
            w.hinfo[0, n] = h
            w.hinfo[1, n] = norm_cdf(h)
            w.hinfo[2, n] = norm_pdf(h)
            w.hinfo[3, n] = 0.0 if abs(h) > 40.0 else h * norm_pdf(h)
    _lanes(theta, p, w, s, rows)
    nl = w.lacc.shape[0]
    inv_alpha = 1.0 / p.alpha
    risk = 0.0
    for i in range(m):
        rs = 0.0
        rt = 0.0
        r20 = 0.0
        r1 = 0.0
        for lane in range(nl):
            rs += w.lacc[lane, 0, i]
            rt += w.lacc[lane, 1, i]
            r20 += w.lacc[lane, 2, i]
            r1 += w.lacc[lane, 3, i]
        rs *= p.scale
        rt *= p.scale
        ci = theta[i, 0]
        risk += s * ci * (0.5 * rs + rt)
        out[i, 0] = -inv_alpha * (rs + rt)
        g = -inv_alpha * ci * p.scale
        for k in range(d):
            gak = 0.0
            for lane in range(nl):
                gak += w.lga[lane, i, k]
            out[i, k + 1] = g * (r20 * theta[i, k + 1] + gak)
        out[i, d + 1] = g * r1 if p.bias else 0.0
    return risk + p.const
