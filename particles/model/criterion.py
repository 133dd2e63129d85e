"""The lazy-training criterion of Chizat, Oyallon & Bach (2019), before any training.

Training a model h from w0 is lazy when

    kappa(w0) = ||h(w0) - y*|| * ||D^2 h(w0)|| / ||Dh(w0)||^2

is small: the distance to the best linear model against the flatness of h around the
initialisation. Here h is the network as a run defines it (scaling, alpha, activation,
bias), functions are measured in L2 of the input law estimated on probe inputs
(||g||^2 = (1/n) sum_k g(x_k)^2), and parameter vectors in the metric of the flow: a
step moves w by -P grad with P the per-layer rates, so the norm of a parameter
direction u is |P^(-1/2) u| (frozen layers are left out). kappa does not change when
every rate is multiplied by one factor.

* ||Dh|| = sup_{|v| = 1} ||Dh[P^(1/2) v]|| = sqrt(lambda_max(K) / n), with K = J P J^T
  the tangent kernel of the probes (:func:`particles.model.network.empirical_ntk` with
  the rates as weights): Lanczos (SciPy's ``eigsh``), or a dense eigensolver for small n.
* ||D^2 h|| = sup_{|v| = 1} ||D^2 h[P^(1/2) v, P^(1/2) v]||
  = sup_{|g| = 1} |lambda|_max(sum_k g_k P^(1/2) H_k P^(1/2)) / sqrt(n), with H_k the
  Hessian of h(x_k). Every H_k is block diagonal over neurons, so the supremum sits in
  one neuron's (d + 2)-dimensional block: all blocks are iterated at once (an
  alternating maximisation over (g, v), two (n x d) (d x m) products per sweep), and
  the four best candidates are then solved exactly in their block (alternating
  between g, the normalised vector of the quadratic forms, and v, the block's top
  eigenvector; the value never decreases). The relative change of the last step and
  the spread over restarts are reported.

For relu and leaky relu, sigma'' is a Dirac mass at 0 that probe points almost surely
miss: the estimate keeps only the c-(a, b) coupling of the Hessian (sigma' x, the
curvature of the product c sigma(z)) and ignores the kinks, so it is the curvature of
the network between the kinks; the kinks add a term that grows with the density of
z = 0 crossings and that finite probes do not see. The supremum is then in closed
form, s sqrt(lr_c) max_i sigma_max(diag(sigma'(z_i)) [sqrt(lr_a) x, sqrt(lr_b)]) (power
iteration over all neurons at once, then an exact SVD of the best candidates).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .network import _effective_alpha, _features, _inputs, _rates, empirical_ntk


@dataclass
class LazyCriterion:
    """What :func:`criterion` returns.

    Attributes
    ----------
    kappa : float
        residual * hessian_norm / jacobian_norm^2 (inf when the Jacobian vanishes).
    residual : float
        ||h(w0) - y||, root mean square over the probes.
    jacobian_norm : float
        ||Dh(w0)|| in the flow's metric.
    hessian_norm : float
        ||D^2 h(w0)|| in the flow's metric (a lower bound reached by the iteration).
    jacobian_tol : float
        Relative residual |K v - lambda v| / lambda of the Lanczos eigenpair.
    hessian_tol : float
        Relative change of the Hessian estimate at the last step of the best restart.
    hessian_spread : float
        (best - worst) / best over the restarts (0: every restart agreed).
    n : int
        Probe inputs.
    note : str
        What the estimate means for this activation.
    """

    kappa: float
    residual: float
    jacobian_norm: float
    hessian_norm: float
    jacobian_tol: float
    hessian_tol: float
    hessian_spread: float
    n: int
    note: str

    def as_dict(self):
        """The fields as a JSON-friendly dict."""
        return asdict(self)


def _second(activation, Z, leak):
    """sigma''(Z) elementwise (0 for the piecewise-linear activations)."""
    if activation in ("relu", "leaky_relu"):
        return np.zeros_like(Z)
    if activation == "sigmoid":
        from scipy.special import expit

        s = expit(Z)
        return s * (1.0 - s) * (1.0 - 2.0 * s)
    if activation == "tanh":
        t = np.tanh(Z)
        return -2.0 * t * (1.0 - t * t)
    if activation == "erf":
        return (-4.0 / math.sqrt(math.pi)) * Z * np.exp(-Z * Z)
    from scipy.special import expit  # softplus: sigma'' = logistic'

    s = expit(Z)
    return s * (1.0 - s)


def criterion(theta, x, y, *, activation="relu", bias=False, alpha=1.0, scaling="mean_field",
              leak=0.01, lr=(1.0, 1.0, 1.0), restarts=2, tol=1e-6, maxiter=40, seed=0):
    """The lazy-training criterion kappa(w0) of a network on probe inputs.

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
        The initial particles (c | a | b).
    x : array_like, shape (n, d)
        Probe inputs, drawn from the input law.
    y : array_like, shape (n,)
        Targets at the probes.
    activation, bias, alpha, scaling, leak
        The network, as in :class:`particles.NetworkConfig`.
    lr : sequence of 3 floats
        Per-layer rates (c, a, b) of the flow: the metric of the parameters (a zero rate
        leaves its layer out).
    restarts : int
        Starts of the Hessian iteration for smooth activations (the first from each
        neuron's coupling optimum, the others random; the best is kept).
    tol : float
        Relative tolerance of the eigensolvers and of the Hessian iteration.
    maxiter : int
        Outer iterations of the Hessian iteration per restart.
    seed : int
        Seed of the random starts (no global random state).

    Returns
    -------
    LazyCriterion

    Examples
    --------
    >>> import numpy as np
    >>> from particles.lazy import criterion
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.standard_normal((50, 4)); theta[:, -1] = 0
    >>> x = rng.standard_normal((40, 2)); y = np.maximum(x[:, 0], 0)
    >>> crit = criterion(theta, x, y)
    >>> bool(crit.kappa > 0 and crit.jacobian_tol < 1e-6)
    True
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[1] < 3 or theta.shape[0] < 1:
        raise ValueError(f"theta has shape {theta.shape}; allowed: (m, d + 2) with d >= 1")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta contains NaN or Inf; allowed: finite values only")
    m, d = theta.shape[0], theta.shape[1] - 2
    x = _inputs("x", x, d)
    n = x.shape[0]
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,) or not np.all(np.isfinite(y)):
        raise ValueError(f"y has shape {y.shape}; allowed: ({n},) finite values")
    lc, la, lb = _rates(lr)
    lb = lb if bias else 0.0
    if lc == la == lb == 0:
        raise ValueError(f"lr={tuple(lr)!r} freezes every layer; allowed: a rate > 0")
    for name, v, lo in (("restarts", restarts, 1), ("maxiter", maxiter, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}={v!r} is invalid; allowed: an integer >= {lo}")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol={tol!r} is invalid; allowed: a number in (0, 1)")
    s = _effective_alpha(alpha, scaling, m) / m
    c, A = theta[:, 0], theta[:, 1:d + 1]
    b = theta[:, d + 1] if bias else np.zeros(m)
    Z = x @ A.T + b
    S, G = _features(activation, Z, leak)
    G2 = _second(activation, Z, leak)
    residual = float(np.sqrt(np.mean((s * (S @ c) - y) ** 2)))
    jac, jac_tol = _jacobian_norm(theta, x, activation, bias, alpha, scaling, leak,
                                  (lc, la, lb), tol)
    hess, hess_tol, spread = _hessian_norm(x, c, G, G2, s, (lc, la, lb), bias,
                                           activation in ("relu", "leaky_relu"), restarts,
                                           tol, maxiter, seed)
    kappa = residual * hess / jac ** 2 if jac > 0 else float("inf")
    if activation in ("relu", "leaky_relu"):
        note = ("piecewise linear: sigma'' is a Dirac mass the probes miss; the Hessian "
                "estimate is the c-(a, b) coupling between the kinks")
    else:
        note = "smooth activation: the full Hessian of the probe outputs"
    return LazyCriterion(kappa=float(kappa), residual=residual, jacobian_norm=jac,
                         hessian_norm=hess, jacobian_tol=jac_tol, hessian_tol=hess_tol,
                         hessian_spread=spread, n=n, note=note)


def _jacobian_norm(theta, x, activation, bias, alpha, scaling, leak, rates, tol):
    """sqrt(lambda_max(J P J^T) / n) and the eigenpair's relative residual."""
    n = x.shape[0]
    K = empirical_ntk(theta, x, activation=activation, bias=bias, alpha=alpha,
                      scaling=scaling, leak=leak, lr=rates)
    K = 0.5 * (K + K.T)
    if n <= 256:
        lam, V = np.linalg.eigh(K)
        top, v = float(lam[-1]), V[:, -1]
    else:
        from scipy.sparse.linalg import eigsh

        lam, V = eigsh(K, k=1, which="LA", tol=tol * 1e-2,
                       v0=np.ones(n) / math.sqrt(n))
        top, v = float(lam[0]), V[:, 0]
    if top <= 0:
        return 0.0, 0.0
    res = float(np.linalg.norm(K @ v - top * v) / top)
    return math.sqrt(top / n), res


def _hessian_norm(x, c, G, G2, s, rates, bias, piecewise, restarts, tol, maxiter, seed):
    """sup_{|v| = 1} ||D^2 h[P^(1/2) v, P^(1/2) v]|| / sqrt(n), its last relative change
    and the spread over restarts.

    The Hessian of every output is block diagonal over neurons, so the supremum is
    reached inside one neuron's block: it is max_i of the same problem in dimension
    d + 2 (sup_g lambda_max of a block-diagonal matrix is the max over its blocks). All
    blocks are iterated at once (two (n x d) (d x m) products per sweep), and the best
    candidates are then solved exactly, one neuron at a time.
    """
    n, d = x.shape
    m = c.shape[0]
    rc, ra, rb = (math.sqrt(r) for r in rates)
    Xt = np.hstack([ra * x, np.full((n, 1), rb)]) if bias else ra * x  # (n, p)
    if piecewise:
        # sigma'' = 0: Q_i(v)_k = 2 s rc v_c sigma'(z_ki) (w . xt_k), maximal at
        # v_c = 1/sqrt(2): s rc sigma_max(D_i Xt), D_i = diag(sigma'(z_i))
        values, change = _block_sigma_max(Xt, G, tol, maxiter, seed)
        return s * rc * values / math.sqrt(n), change, 0.0
    rng = np.random.default_rng(seed)
    best, tols = [], []
    for r in range(restarts):
        V = rng.standard_normal((m, 1 + Xt.shape[1]))
        if r == 0:  # the first start: each block's coupling optimum (the sigma'' = 0 case)
            V[:, 0] = 1.0
            V[:, 1:] = _block_power(Xt, G, 10, seed, tol * 1e-2)[0].T
        V /= np.linalg.norm(V, axis=1)[:, None]
        prev = 0.0
        for _ in range(maxiter):
            dc, dZ = rc * V[:, 0], Xt @ V[:, 1:].T  # (m,), (n, m)
            Q = s * (2.0 * G * dZ * dc + G2 * dZ * dZ * c)
            qn = np.linalg.norm(Q, axis=0)
            g = Q / np.where(qn > 0, qn, 1.0)
            gG = g * G
            W = gG * dc + g * G2 * dZ * c  # one power step with every block B_i(g_i)
            V = np.hstack([(rc * s * np.einsum("km,km->m", gG, dZ))[:, None], s * (W.T @ Xt)])
            V /= np.where((nv := np.linalg.norm(V, axis=1)) > 0, nv, 1.0)[:, None]
            top = float(qn.max())
            if top > 0 and abs(top - prev) <= tol * top:
                break
            prev = top
        # the best candidates, solved exactly in their own (d + 2)-dimensional block
        cand = np.argsort(qn)[::-1][:4]
        vals = [_one_block(Xt, G[:, i], G2[:, i], c[i], s, rc, V[i], tol, 4 * maxiter)
                for i in cand]
        value, change = max(vals)
        best.append(value)
        tols.append(change)
    k = int(np.argmax(best))
    top = best[k]
    spread = (top - min(best)) / top if top > 0 else 0.0
    return top / math.sqrt(n), float(tols[k]), float(spread)


def _block_power(Xt, G, steps, seed, tol=0.0):
    """Power iteration on every Xt^T D_i^2 Xt at once (D_i = diag(G[:, i])), from a
    seeded random start: the iterated vectors (p, m), their last growth factors (m,)
    (-> sigma_max(D_i Xt)^2) and the relative change of the largest at the last step;
    stops early once that change is below ``tol``."""
    G2 = G * G
    W = np.random.default_rng(seed).standard_normal((Xt.shape[1], G.shape[1]))
    W /= np.linalg.norm(W, axis=0)
    lam, prev, change = np.zeros(G.shape[1]), 0.0, 1.0
    for _ in range(steps):
        W = Xt.T @ (G2 * (Xt @ W))
        lam = np.linalg.norm(W, axis=0)
        W /= np.where(lam > 0, lam, 1.0)
        top = float(lam.max())
        change = abs(top - prev) / top if top > 0 else 0.0
        if change <= tol:
            break
        prev = top
    return W, lam, change


def _block_sigma_max(Xt, G, tol, maxiter, seed):
    """max_i sigma_max(diag(G[:, i]) Xt): :func:`_block_power`, then an exact SVD of the
    8 best candidates; returns (value, last change)."""
    _, lam, change = _block_power(Xt, G, max(maxiter, 30), seed, tol * 1e-2)
    cand = np.argsort(lam)[::-1][:8]
    exact = max(_sigma_max(G[:, i:i + 1] * Xt) for i in cand)
    return exact, change


def _sigma_max(A):
    """The largest singular value of A (n x p), through the smaller of A A^T and A^T A
    (a wide A of d = 10^6 columns costs one n x n Gram matrix, not an SVD of A)."""
    gram = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    return math.sqrt(max(float(np.linalg.eigvalsh(gram)[-1]), 0.0))


def _one_block(Xt, g1, g2, c, s, rc, v, tol, maxiter):
    """sup over unit v in one neuron's block of ||Q(v)|| (alternating maximisation with
    exact eigenvectors of the (p + 1) x (p + 1) block); returns (value, last change)."""
    p = Xt.shape[1]
    v = v / np.linalg.norm(v)
    # B(g) lives on e_0 and the row space of Xt (rank <= n): with more columns than
    # probes, work in an orthonormal basis R of that row space, (p, r) with r <= n, so
    # the block is (r + 1) x (r + 1) whatever d is (exact: B vanishes elsewhere)
    if p > Xt.shape[0] + 1:
        R, _ = np.linalg.qr(Xt.T)  # (p, r)
        Xr = Xt @ R  # (n, r)
        v = np.concatenate([v[:1], R.T @ v[1:]])
        v /= np.linalg.norm(v)
        value, change = _one_block(Xr, g1, g2, c, s, rc, v, tol, maxiter)
        return value, change
    value, change = 0.0, 1.0
    for _ in range(maxiter):
        dz = Xt @ v[1:]
        q = s * (2.0 * g1 * dz * rc * v[0] + g2 * dz * dz * c)
        qn = float(np.linalg.norm(q))
        if qn == 0.0:
            break
        g = q / qn
        B = np.zeros((p + 1, p + 1))
        B[0, 1:] = B[1:, 0] = s * rc * ((g * g1) @ Xt)
        B[1:, 1:] = s * c * (Xt.T * (g * g2)) @ Xt
        lam, U = np.linalg.eigh(B)
        j = int(np.argmax(np.abs(lam)))
        new, v = abs(float(lam[j])), U[:, j]
        change = abs(new - value) / new if new > 0 else 0.0
        value = new
        if change < tol:
            break
    return value, change
