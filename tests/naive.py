"""Slow, obviously correct NumPy/SciPy twins of every compiled kernel.

Nothing here is fast or clever: plain vectorised NumPy, SciPy's special functions
and its bivariate normal CDF, loops where they make the formula easier to read.
"""
import math

import numpy as np
from scipy import special, stats

ACT = {
    "relu": (lambda z, k: np.maximum(z, 0.0), lambda z, k: (z > 0) * 1.0, lambda z, k: 0 * z),
    "leaky_relu": (lambda z, k: np.where(z > 0, z, k * z), lambda z, k: np.where(z > 0, 1.0, k),
                   lambda z, k: 0 * z),
    "sigmoid": (lambda z, k: special.expit(z),
                lambda z, k: special.expit(z) * (1 - special.expit(z)),
                lambda z, k: special.expit(z) * (1 - special.expit(z)) * (1 - 2 * special.expit(z))),
    "tanh": (lambda z, k: np.tanh(z), lambda z, k: 1 - np.tanh(z) ** 2,
             lambda z, k: -2 * np.tanh(z) * (1 - np.tanh(z) ** 2)),
    "erf": (lambda z, k: special.erf(z), lambda z, k: 2 / np.sqrt(np.pi) * np.exp(-z * z),
            lambda z, k: -4 * z / np.sqrt(np.pi) * np.exp(-z * z)),
    "softplus": (lambda z, k: np.logaddexp(0.0, z), lambda z, k: special.expit(z),
                 lambda z, k: special.expit(z) * (1 - special.expit(z))),
}


def sigma(name, z, leak=0.01, order=0):
    """sigma^(order)(z) elementwise."""
    return ACT[name][order](np.asarray(z, dtype=np.float64), leak)


def forward(theta, X, activation, alpha=1.0, leak=0.01):
    """f(x_k) = (alpha/m) sum_i c_i sigma(a_i . x_k + b_i), shape (n,)."""
    m, d = theta.shape[0], theta.shape[1] - 2
    Z = X @ theta[:, 1:d + 1].T + theta[:, d + 1]
    return alpha / m * sigma(activation, Z, leak) @ theta[:, 0]


def loss(name, f, y):
    if name == "squared":
        return 0.5 * (f - y) ** 2, f - y
    return np.logaddexp(0.0, -y * f), -y * special.expit(-y * f)


def sample_velocity(theta, X, y, activation, bias, alpha=1.0, leak=0.01, loss_name="squared"):
    """(mean loss, velocity) on a fixed sample: the twin of sample_velocity_core."""
    theta = theta.astype(np.float64)
    X = X.astype(np.float64)
    m, d = theta.shape[0], theta.shape[1] - 2
    n = X.shape[0]
    Z = X @ theta[:, 1:d + 1].T + theta[:, d + 1]
    H = sigma(activation, Z, leak)
    f = alpha / m * H @ theta[:, 0]
    lv, r = loss(loss_name, f, y)
    G = sigma(activation, Z, leak, 1) * r[:, None]
    v = np.zeros_like(theta)
    v[:, 0] = -(H.T @ r) / (alpha * n)
    v[:, 1:d + 1] = -theta[:, :1] * (G.T @ X) / (alpha * n)
    if bias:
        v[:, d + 1] = -theta[:, 0] * G.sum(0) / (alpha * n)
    return lv.mean(), v


def bvn_cdf(h, k, r):
    """Phi2(h, k; r) with SciPy."""
    if r >= 1.0 - 1e-12:  # SciPy refuses singular covariances
        return stats.norm.cdf(min(h, k))
    if r <= -1.0 + 1e-12:
        return max(0.0, stats.norm.cdf(h) + stats.norm.cdf(k) - 1.0)
    return stats.multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]], abseps=1e-14,
                                     releps=1e-14).cdf([h, k])


def pair(activation, mu1, mu2, s1, s2, rho, leak=0.01, nodes=200):
    """(A0, A1, A20, A11) by brute-force quadrature on a fine grid (slow, any sigma).

    A20 uses Price's theorem, 2 dA0/ds11, by a central difference of A0 for the
    piecewise-linear activations (sigma'' is a Dirac mass there).
    """
    x = np.linspace(-9, 9, nodes)
    w = np.exp(-x * x / 2)
    w /= w.sum()
    g1, g2 = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w)
    r = math.sqrt(max(1 - rho * rho, 0.0))

    def moments(mu1, s1, mu2, s2, rho):
        r = math.sqrt(max(1 - rho * rho, 0.0))
        z1 = mu1 + s1 * g1
        z2 = mu2 + s2 * (rho * g1 + r * g2)
        f = [sigma(activation, z1, leak, k) for k in range(3)]
        f2 = [sigma(activation, z2, leak, k) for k in range(2)]
        return (np.sum(W * f[0] * f2[0]), np.sum(W * f[1] * f2[0]), np.sum(W * f[2] * f2[0]),
                np.sum(W * f[1] * f2[1]))

    a0, a1, a20, a11 = moments(mu1, s1, mu2, s2, rho)
    if activation in ("relu", "leaky_relu"):
        e = 1e-4 * s1 * s1
        s12 = rho * s1 * s2
        up = math.sqrt(s1 * s1 + e)
        dn = math.sqrt(s1 * s1 - e)
        a20 = 2 * (moments(mu1, up, mu2, s2, s12 / (up * s2))[0]
                   - moments(mu1, dn, mu2, s2, s12 / (dn * s2))[0]) / (2 * e)
    del r
    return a0, a1, a20, a11


def exact_risk(theta, teacher, activation, bias, alpha=1.0, leak=0.01, sphere_d=None,
               pair_fn=None):
    """Exact population risk by the double sums of docs/theory.md ("Exact population integrals") (loops over pairs).

    ``pair_fn(mu1, mu2, s1, s2, rho) -> A0`` defaults to the closed forms below.
    """
    m, d = theta.shape[0], theta.shape[1] - 2
    s = alpha / m
    K = pair_fn or (lambda *args: closed_pair(activation, *args, leak=leak)[0])

    def kern(u, v, same=False):
        s1, s2 = np.linalg.norm(u[1:d + 1]), np.linalg.norm(v[1:d + 1])
        rho = 1.0 if same else (u[1:d + 1] @ v[1:d + 1]) / (s1 * s2)
        b1 = u[d + 1] if bias else 0.0
        b2 = v[d + 1] if bias else 0.0
        return K(b1, b2, s1, s2, float(np.clip(rho, -1, 1)))

    r = 0.0
    for i in range(m):
        for j in range(m):
            r += 0.5 * s * s * theta[i, 0] * theta[j, 0] * kern(theta[i], theta[j], i == j)
        for l in range(teacher.shape[0]):
            r -= s * theta[i, 0] * teacher[l, 0] * kern(theta[i], teacher[l])
    for l in range(teacher.shape[0]):
        for k in range(teacher.shape[0]):
            r += 0.5 * teacher[l, 0] * teacher[k, 0] * kern(teacher[l], teacher[k], l == k)
    return r / sphere_d if sphere_d else r


def closed_pair(activation, mu1, mu2, s1, s2, rho, leak=0.01):
    """Closed forms written out with SciPy (relu and erf, leaky via four relu terms)."""
    if activation == "relu":
        h, k = mu1 / s1, mu2 / s2
        r = math.sqrt(max(1 - rho * rho, 0.0))
        P = bvn_cdf(h, k, rho)
        N, n = stats.norm.cdf, stats.norm.pdf
        if r > 0:
            fu, fv, rpu = N((k - rho * h) / r), N((h - rho * k) / r), r * n((k - rho * h) / r)
        else:
            fu = 1.0 if k - rho * h > 0 else (0.0 if k - rho * h < 0 else 0.5)
            fv = 1.0 if h - rho * k > 0 else (0.0 if h - rho * k < 0 else 0.5)
            rpu = 0.0
        ex = n(h) * fu + rho * n(k) * fv
        ey = n(k) * fv + rho * n(h) * fu
        exy = -rho * h * n(h) * fu + n(h) * rpu + rho * P - rho * k * n(k) * fv
        a0 = mu1 * mu2 * P + mu1 * s2 * ey + mu2 * s1 * ex + s1 * s2 * exy
        a1 = mu2 * P + s2 * ey
        a20 = n(h) / s1 * s2 * ((k - rho * h) * fu + rpu)
        return a0, a1, a20, P
    if activation == "leaky_relu":
        tot = np.zeros(4)
        for s, ws in ((1, 1.0), (-1, -leak)):
            for t, wt in ((1, 1.0), (-1, -leak)):
                b = closed_pair("relu", s * mu1, t * mu2, s1, s2, s * t * rho)
                tot += ws * wt * np.array([b[0], s * b[1], b[2], s * t * b[3]])
        return tuple(tot)
    if activation == "erf":
        q1, q2 = math.sqrt(1 + 2 * s1 * s1), math.sqrt(1 + 2 * s2 * s2)
        re = 2 * rho * s1 * s2 / (q1 * q2)
        h, k = math.sqrt(2) * mu1 / q1, math.sqrt(2) * mu2 / q2
        N, n = stats.norm.cdf, stats.norm.pdf
        rr = math.sqrt(1 - re * re)
        a0 = 4 * bvn_cdf(h, k, re) - 2 * N(h) - 2 * N(k) + 1
        g = 2 * N((k - re * h) / rr) - 1
        phi2 = stats.multivariate_normal(mean=[0, 0], cov=[[1, re], [re, 1]]).pdf([h, k])
        a1 = math.sqrt(2) / q1 * 2 * n(h) * g
        a11 = 8 * phi2 / (q1 * q2)
        a20 = -2 / q1 ** 2 * (2 * h * n(h) * g + 4 * re * phi2)
        return a0, a1, a20, a11
    raise ValueError(activation)


def fixed_steps(velocity, theta, method, dt, nsteps, lr=(1.0, 1.0, 1.0), wd=0.0):
    """Euler or Heun with V = lr * (velocity(theta) - wd theta), in plain NumPy."""
    theta = theta.copy()
    d = theta.shape[1] - 2
    scale = np.array([lr[0]] + [lr[1]] * d + [lr[2]], dtype=theta.dtype)

    def V(t):
        return scale * (velocity(t) - wd * t)

    for _ in range(nsteps):
        v1 = V(theta)
        if method == "euler":
            theta = theta + dt * v1
        else:
            v2 = V(theta + dt * v1)
            theta = theta + dt / 2 * (v1 + v2)
    return theta


def summaries(theta, v, theta0, lr, wd):
    """(grad_norm2, distance, invariant drift) as Simulation.observe defines them."""
    d = theta.shape[1] - 2
    m = theta.shape[0]

    def q(t):
        return t[:, 0] ** 2 / lr[0] - (t[:, 1:d + 1] ** 2).sum(1) / lr[1] - t[:, d + 1] ** 2 / lr[2]

    g = v - wd * theta
    return ((g ** 2).sum() / m, np.sqrt(((theta - theta0) ** 2).sum() / m),
            np.abs(q(theta) - q(theta0)).max())


def exact_relu_velocity(theta, teacher, alpha=1.0):
    """Bias-free ReLU exact risk and velocity with full (m + m0)^2 matrices (arc-cosine)."""
    m, d = theta.shape[0], theta.shape[1] - 2
    s = alpha / m
    A = np.vstack([theta[:, 1:d + 1], teacher[:, 1:d + 1]]).astype(np.float64)
    w = np.concatenate([s * theta[:, 0], -teacher[:, 0]])
    n = np.linalg.norm(A, axis=1)
    G = A @ A.T
    rho = np.clip(G / np.outer(n, n), -1, 1)
    np.fill_diagonal(rho, 1.0)
    r = np.sqrt(np.maximum(1 - rho ** 2, 0))
    th = np.arctan2(r, rho)
    K = np.outer(n, n) * (r + (np.pi - th) * rho) / (2 * np.pi)
    A11 = (np.pi - th) / (2 * np.pi)
    A20 = r / (2 * np.pi) * n[None, :] / n[:, None]
    risk = 0.5 * w @ K @ w
    v = np.zeros_like(theta, dtype=np.float64)
    v[:, 0] = -(K[:m] @ w) / alpha
    ga = (A11[:m] * w[None, :]) @ A
    v[:, 1:d + 1] = -(theta[:, :1] / alpha) * ((A20[:m] @ w)[:, None] * A[:m] + ga)
    return risk, v


def tangent_forward(theta, theta0, X, activation, bias, alpha=1.0, leak=0.01):
    """f_bar(x) = f(x; theta0) + Df(theta0)(theta - theta0), shape (n,)."""
    theta, theta0 = theta.astype(np.float64), theta0.astype(np.float64)
    m, d = theta.shape[0], theta.shape[1] - 2
    b0 = theta0[:, d + 1] if bias else 0.0
    db = (theta[:, d + 1] - theta0[:, d + 1]) if bias else 0.0
    Z0 = X @ theta0[:, 1:d + 1].T + b0
    D = X @ (theta[:, 1:d + 1] - theta0[:, 1:d + 1]).T + db
    return alpha / m * (sigma(activation, Z0, leak) @ theta[:, 0]
                        + (sigma(activation, Z0, leak, 1) * D) @ theta0[:, 0])


def tangent_velocity(theta, theta0, X, y, activation, bias, alpha=1.0, leak=0.01,
                     loss_name="squared"):
    """(mean loss, velocity) of the tangent model: the twin of kernels.tangent."""
    X = X.astype(np.float64)
    d = theta.shape[1] - 2
    n = X.shape[0]
    f = tangent_forward(theta, theta0, X, activation, bias, alpha, leak)
    lv, r = loss(loss_name, f, y)
    theta0 = theta0.astype(np.float64)
    Z0 = X @ theta0[:, 1:d + 1].T + (theta0[:, d + 1] if bias else 0.0)
    H, G = sigma(activation, Z0, leak), sigma(activation, Z0, leak, 1) * r[:, None]
    v = np.zeros(theta.shape)
    v[:, 0] = -(H.T @ r) / (alpha * n)
    v[:, 1:d + 1] = -theta0[:, :1] * (G.T @ X) / (alpha * n)
    if bias:
        v[:, d + 1] = -theta0[:, 0] * G.sum(0) / (alpha * n)
    return lv.mean(), v


def jacobian(theta, X, activation, bias, alpha=1.0, leak=0.01, eps=1e-6):
    """d f(x_k) / d theta by central differences, shape (n, m * (d + 2))."""
    theta = theta.astype(np.float64)
    cols = []
    for j in range(theta.size):
        if not bias and j % theta.shape[1] == theta.shape[1] - 1:
            cols.append(np.zeros(X.shape[0]))
            continue
        tp, tm = theta.copy(), theta.copy()
        tp.flat[j] += eps
        tm.flat[j] -= eps
        cols.append((forward(tp, X, activation, alpha, leak)
                     - forward(tm, X, activation, alpha, leak)) / (2 * eps))
    return np.stack(cols, axis=1)


def exact_tangent_relu(theta, theta0, teacher, alpha=1.0, scale=1.0):
    """(risk, velocity) of the bias-free ReLU tangent model on Gaussian inputs, from
    the unsimplified formulas with explicit d x d matrices
    M(u, w) = E 1(u.x > 0) 1(w.x > 0) x x^T (the twin of kernels.exact_tangent)."""
    theta, theta0 = np.asarray(theta, float), np.asarray(theta0, float)
    m, d = theta.shape[0], theta.shape[1] - 2
    a0, c0, c = theta0[:, 1:d + 1], theta0[:, 0], theta[:, 0]
    delta = theta[:, 1:d + 1] - a0
    s = alpha / m

    def angle(u, w):
        nu, nw = np.linalg.norm(u), np.linalg.norm(w)
        uh, wh = u / nu, w / nw
        return 2 * math.atan2(np.linalg.norm(uh - wh), np.linalg.norm(uh + wh)), nu, nw

    def k(u, w):
        t, nu, nw = angle(u, w)
        return nu * nw * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi)

    def g(u, w):
        t, nu, nw = angle(u, w)
        return ((math.pi - t) * w + nw * math.sin(t) * u / nu) / (2 * math.pi)

    def M(u, w):
        t, nu, nw = angle(u, w)
        uh, wh = u / nu, w / nw
        out = (math.pi - t) * np.eye(d)
        if math.sin(t) > 1e-9:
            out += (np.outer(wh, uh) + np.outer(uh, wh)
                    - math.cos(t) * (np.outer(uh, uh) + np.outer(wh, wh))) / math.sin(t)
        return out / (2 * math.pi)

    ts, cs = teacher[:, 1:d + 1], teacher[:, 0]
    P, Q = np.zeros(m), np.zeros((m, d))
    for i in range(m):
        P[i] = s * sum(c[j] * k(a0[j], a0[i]) + c0[j] * g(a0[j], a0[i]) @ delta[j]
                       for j in range(m))
        P[i] -= sum(cs[l] * k(ts[l], a0[i]) for l in range(len(cs)))
        Q[i] = s * sum(c[j] * g(a0[i], a0[j]) + c0[j] * M(a0[i], a0[j]) @ delta[j]
                       for j in range(m))
        Q[i] -= sum(cs[l] * g(a0[i], ts[l]) for l in range(len(cs)))
    P, Q = scale * P, scale * Q
    # risk: (1/2) E[(f_bar - y)^2] expanded pair by pair
    ff = s * s * sum(c[i] * c[j] * k(a0[i], a0[j]) + 2 * c[i] * c0[j] * g(a0[j], a0[i]) @ delta[j]
                     + c0[i] * c0[j] * delta[i] @ M(a0[i], a0[j]) @ delta[j]
                     for i in range(m) for j in range(m))
    fy = s * sum(cs[l] * (c[j] * k(a0[j], ts[l]) + c0[j] * g(a0[j], ts[l]) @ delta[j])
                 for j in range(m) for l in range(len(cs)))
    yy = sum(cs[l] * cs[q] * k(ts[l], ts[q]) for l in range(len(cs)) for q in range(len(cs)))
    risk = 0.5 * scale * (ff - 2 * fy + yy)
    v = np.zeros_like(theta)
    v[:, 0] = -P / alpha
    v[:, 1:d + 1] = -c0[:, None] * Q / alpha
    return risk, v


def euler_maruyama(velocity, theta, dt, nsteps, gen, temperature, columns, lr=(1.0, 1.0, 1.0),
                   wd=0.0, schedule="constant", step0=0):
    """Euler-Maruyama for the mean-field Langevin dynamics, in plain NumPy:
    theta <- theta + dt V(theta) + sqrt(2 T(t_k) lr dt) xi on the trained ``columns``,
    with xi drawn from ``gen`` one at a time, particle by particle, column by column."""
    theta = theta.copy()
    d = theta.shape[1] - 2
    scale = np.array([lr[0]] + [lr[1]] * d + [lr[2]], dtype=np.float64)
    cols = np.flatnonzero(columns)
    for k in range(nsteps):
        t = (step0 + k) * dt
        temp = temperature if schedule == "constant" else temperature / np.log(np.e + t)
        v = scale * (velocity(theta) - wd * theta)
        xi = np.zeros_like(theta, dtype=np.float64)
        for i in range(theta.shape[0]):
            for q in cols:
                xi[i, q] = gen.standard_normal()
        theta = theta + dt * v + np.sqrt(2 * temp * scale * dt) * xi
    return theta


# -- sparse deconvolution on the torus, by quadrature of functions of x ----------------

def dirichlet(x, K, deriv=0):
    """psi(x) = sum_{|k| <= K} exp(2 i pi k x) (or its ``deriv``-th derivative), summed
    term by term."""
    k = np.arange(-K, K + 1)
    return np.real(np.exp(2j * np.pi * np.multiply.outer(x, k)) @ (2j * np.pi * k) ** deriv)


def observation(x, yc, ys):
    """y(x) from its coefficients C_k(y), S_k(y): y = C_0 + 2 sum (C_k cos + S_k sin)."""
    K = len(yc) - 1
    ang = 2 * np.pi * np.multiply.outer(x, np.arange(1, K + 1))
    return yc[0] + 2 * (np.cos(ang) @ yc[1:] + np.sin(ang) @ ys[1:])


def deconvolution_velocity(theta, yc, ys):
    """Data term 1/2 int (Phi mu - y)^2 and v_i = (-V(p_i), -c_i V'(p_i), 0), with every
    integral a trapezoid sum on 4K + 8 points (exact for these trigonometric polynomials
    of degree <= 2K) and Phi mu(x) = (1/m) sum_i c_i psi(x - p_i) summed directly."""
    t = np.asarray(theta, dtype=np.float64)
    K = len(yc) - 1
    x = np.arange(4 * K + 8) / (4 * K + 8)
    m = t.shape[0]
    u = dirichlet(np.subtract.outer(x, t[:, 1]), K) @ t[:, 0] / m - observation(x, yc, ys)
    V = np.mean(u[:, None] * dirichlet(np.subtract.outer(x, t[:, 1]), K), axis=0)
    dV = -np.mean(u[:, None] * dirichlet(np.subtract.outer(x, t[:, 1]), K, 1), axis=0)
    v = np.zeros_like(t)
    v[:, 0] = -V
    v[:, 1] = -t[:, 0] * dV
    return 0.5 * float(np.mean(u * u)), v


def conic_steps(velocity, theta, dt, nsteps, *, fr=1.0, reg=0.0, lr=(1.0, 1.0, 1.0),
                wfr=True, period=0.0):
    """The conic (wfr) or proximal Wasserstein step in plain NumPy (see
    particles.dynamics.conic)."""
    t = np.array(theta, dtype=np.float64, copy=True)
    d = t.shape[1] - 2
    rates = np.array([lr[1]] * d + [lr[2]])
    for _ in range(nsteps):
        v = velocity(t)
        c = t[:, 0].copy()
        if wfr:
            alive = c != 0
            s = np.sign(c)
            t[alive, 1:] += dt * rates * v[alive, 1:] / np.abs(c[alive])[:, None]
            t[:, 0] = c * np.exp(fr * dt * (s * v[:, 0] - reg))
        else:
            t[:, 1:] += dt * rates * v[:, 1:]
            c2 = c + dt * lr[0] * v[:, 0]
            t[:, 0] = np.sign(c2) * np.maximum(np.abs(c2) - dt * lr[0] * reg, 0.0)
        if period > 0:
            t[:, 1] %= period
    return t
