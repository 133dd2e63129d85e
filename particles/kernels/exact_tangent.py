"""The tangent model's exact population risk and velocity: bias-free ReLU, Gaussian
(or sphere) inputs, squared loss. Compiled.

With u = a0_i, w = a0_j (norms N_i, N_j, unit vectors u^, w^, angle t_ij) and x ~ N(0, I):

    k(u, w)   = E relu(u.x) relu(w.x)          = N_u N_w (sin t + (pi - t) cos t) / (2 pi)
    g(u, w)   = E 1(u.x > 0) relu(w.x) x       = ((pi - t) w + N_w sin t u^) / (2 pi)
    M(u, w) e = E 1(u.x > 0) 1(w.x > 0) x x.e
              = ((pi - t) e + A u^ + B w^) / (2 pi),
      A = (p.e) / sin t,  B = sin t (u^.e) - cos t (p.e) / sin t,  p = w^ - cos t u^

(M = I/2 at t = 0 and 0 at t = pi, where the A, B terms vanish). The residual of the
tangent model f_bar against the teacher y gives, per neuron i,

    P_i = E[r sigma(z0_i)]   = s sum_j [c_j k_ji + c0_j g(a0_j, a0_i) . delta_j] - T_i
    Q_i = E[r sigma'(z0_i) x] = s sum_j [c_j g(a0_i, a0_j) + c0_j M(a0_i, a0_j) delta_j] - U_i

with delta_j = a_j - a0_j, T_i = E[y sigma(z0_i)], U_i = E[y sigma'(z0_i) x], and
v_c_i = -P_i / alpha, v_a_i = -c0_i Q_i / alpha, R = (E[r f_bar] - E[f_bar y]) / 2 +
E[y^2] / 2 with E[r f_bar] = s sum_i (c_i P_i + c0_i delta_i . Q_i) and E[f_bar y] =
s sum_i (c_i T_i + c0_i delta_i . U_i). Every expectation is 2-homogeneous in x, so
sphere inputs multiply them all by 1/d (``scale``). Three (m x m x d) matrix products per
call: D = A^ Delta^T, W1 A^ and W3 Delta.
"""
import math

import numpy as np

from .._numba.jit import jit

#: below this sin(t) two neurons count as parallel (or antiparallel)
PARALLEL = 1e-12


@jit
def exact_tangent_velocity(theta, p, w, out):
    """Risk of the tangent model and its velocity into ``out`` (see module docstring).

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    p : ExactTangentParams
        Fixed quantities of theta0 and the teacher: ``ahat`` (m, d), ``a0`` (m, d),
        ``norms``, ``c0``, ``T`` (m,), ``U`` (m, d), ``t``, ``sin``, ``cos``, ``K0``
        (= N_i N_j (sin t + (pi - t) cos t)) and ``W3`` (= c0_j (pi - t_ij)) (m, m),
        ``const`` (E[y^2] / 2), ``alpha``, ``scale``.
    w : ExactTangentWork
    out : ndarray, shape (m, d + 2)
    """
    m = theta.shape[0]
    d = theta.shape[1] - 2
    s = p.alpha / m
    delta, deltat, c = w.delta, w.deltat, w.c
    for j in range(m):
        c[j] = theta[j, 0]
        for q in range(d):
            v = theta[j, q + 1] - p.a0[j, q]
            delta[j, q] = v
            deltat[q, j] = v
    np.dot(p.ahat, deltat, w.D)  # D[i, j] = a^_i . delta_j
    D, W1 = w.D, w.W1
    two_pi = 2.0 * math.pi
    k = s * p.scale / two_pi
    for i in range(m):
        pi_sum = 0.0
        w2 = 0.0
        ni = p.norms[i]
        for j in range(m):
            t = p.t[i, j]
            st = p.sin[i, j]
            ct = p.cos[i, j]
            dij = D[i, j]
            ej = D[j, j]
            pe = ej - ct * dij
            if st > PARALLEL:
                a_coef = pe / st
                b_coef = st * dij - ct * pe / st
            else:
                a_coef = 0.0
                b_coef = 0.0
            pi_sum += c[j] * p.K0[i, j] + p.c0[j] * ni * ((math.pi - t) * dij + st * ej)
            nj = p.norms[j]
            W1[i, j] = c[j] * nj * (math.pi - t) + p.c0[j] * b_coef
            w2 += c[j] * nj * st + p.c0[j] * a_coef
        w.P[i] = k * pi_sum - p.T[i]
        w.w2[i] = w2
    np.dot(W1, p.ahat, w.Q)
    np.dot(p.W3, delta, w.tmp)
    rf = 0.0
    fy = 0.0
    for i in range(m):
        dq = 0.0
        du = 0.0
        for q in range(d):
            qi = k * (w.Q[i, q] + p.ahat[i, q] * w.w2[i] + w.tmp[i, q]) - p.U[i, q]
            w.Q[i, q] = qi
            dq += delta[i, q] * qi
            du += delta[i, q] * p.U[i, q]
        rf += c[i] * w.P[i] + p.c0[i] * dq
        fy += c[i] * p.T[i] + p.c0[i] * du
    g = -1.0 / p.alpha
    for i in range(m):
        out[i, 0] = g * w.P[i]
        gi = g * p.c0[i]
        for q in range(d):
            out[i, q + 1] = gi * w.Q[i, q]
        out[i, d + 1] = 0.0
    return 0.5 * s * (rf - fy) + p.const
