"""The network in NumPy: outputs, tangent kernels and the Gaussian pair kernels.

The NumPy side of the network, shared by the dynamics (the kernel-drift records), the
analysis (the lazy regime, distances, certificates) and the tangent oracles:

* :func:`forward` -- outputs f(x) of a batch (the compiled loop of
  :mod:`particles.kernels.network`, called with checked arrays);
* :func:`empirical_ntk` and :func:`flow_kernel` -- the tangent kernel of a finite
  network and the kernel that drives a run's outputs;
* :func:`gauss_pair` -- E[sigma(u) sigma(v)] and E[sigma'(u) sigma'(v)] for a centred
  Gaussian pair, the one NumPy twin of the compiled scalar pair kernels of
  :mod:`particles.kernels.pairs` (arc-cosine kernels for relu and leaky relu,
  Williams' kernel for erf).
"""
from __future__ import annotations

import math

import numpy as np

from ..registry import ACTIVATIONS, activation_code


def forward(theta, X, *, activation="relu", bias=False, leak=0.01, scale=1.0):
    """Network outputs f(x_k) = scale sum_i c_i sigma(a_i . x_k + b_i).

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
        Particles (c | a | b).
    X : array_like, shape (n, d)
    activation : str
    bias : bool
        Whether the b column is used.
    leak : float
        Slope of leaky_relu for z < 0.
    scale : float
        Output factor: alpha_eff / m for a student, 1 for a teacher.

    Returns
    -------
    ndarray, shape (n,), float64
    """
    from ..kernels.network import forward as _forward

    theta = np.ascontiguousarray(theta, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    out = np.empty(X.shape[0])
    _forward(theta, X, activation_code(activation), float(leak), bool(bias), float(scale), out)
    return out


#: activations with closed-form Gaussian kernels (expected and infinite-width)
KERNEL_ACTIVATIONS = ("relu", "leaky_relu", "erf")


def _effective_alpha(alpha, scaling, m):
    from ..config import SCALINGS, scaled_alpha

    if scaling not in SCALINGS:
        raise ValueError(f"scaling={scaling!r} is invalid; allowed: {', '.join(SCALINGS)}")
    if not (isinstance(alpha, (int, float, np.floating, np.integer)) and alpha > 0
            and math.isfinite(alpha)):
        raise ValueError(f"alpha={alpha!r} is invalid; allowed: a finite number > 0")
    return scaled_alpha(alpha, scaling, m)


def _features(activation, Z, leak):
    """sigma(Z) and sigma'(Z), elementwise (float64)."""
    if activation == "relu":
        return np.maximum(Z, 0.0), (Z > 0).astype(np.float64)
    if activation == "leaky_relu":
        pos = Z > 0
        return np.where(pos, Z, leak * Z), np.where(pos, 1.0, leak)
    if activation == "sigmoid":
        from scipy.special import expit

        s = expit(Z)
        return s, s * (1.0 - s)
    if activation == "tanh":
        t = np.tanh(Z)
        return t, 1.0 - t * t
    if activation == "erf":
        from scipy.special import erf

        return erf(Z), (2.0 / math.sqrt(math.pi)) * np.exp(-Z * Z)
    if activation == "softplus":
        from scipy.special import expit

        return np.logaddexp(0.0, Z), expit(Z)
    raise ValueError(f"activation={activation!r} is unknown; allowed: {', '.join(ACTIVATIONS)}")


def _inputs(name, x, d=None):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or (d is not None and x.shape[1] != d):
        want = "(n, d)" if d is None else f"(n, {d})"
        raise ValueError(f"{name} has shape {x.shape}; allowed: {want} with n >= 1")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf; allowed: finite values only")
    return np.ascontiguousarray(x)


def _rates(lr):
    lr = tuple(float(v) for v in lr)
    if len(lr) != 3 or any(not math.isfinite(v) or v < 0 for v in lr):
        raise ValueError(f"lr={lr!r} is invalid; allowed: three rates (c, a, b) >= 0")
    return lr


def empirical_ntk(theta, x1, x2=None, *, activation="relu", bias=False, alpha=1.0,
                  scaling="mean_field", leak=0.01, lr=(1.0, 1.0, 1.0), block=1024):
    """Tangent kernel of the network with particles ``theta`` on given inputs.

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
        Particles (c | a | b).
    x1 : array_like, shape (n1, d)
    x2 : array_like, shape (n2, d), optional
        Defaults to ``x1`` (the kernel is then symmetric).
    activation, bias, alpha, scaling, leak
        The network, as in :class:`particles.NetworkConfig`.
    lr : sequence of 3 floats
        Weights of the c, a and b terms (the per-layer rates; (1, 1, 1) is the plain
        Gram matrix of the parameter gradients).
    block : int
        Rows of ``x1`` processed at once; beyond the (n1, n2) output the memory is
        O((block + n2) m).

    Returns
    -------
    K : ndarray, shape (n1, n2)
        K[k, l] = sum_i lr . (grad_{theta_i} f(x1_k) * grad_{theta_i} f(x2_l)).

    Examples
    --------
    >>> import numpy as np
    >>> from particles.model.network import empirical_ntk
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.standard_normal((100, 4)); theta[:, -1] = 0
    >>> K = empirical_ntk(theta, rng.standard_normal((5, 2)))
    >>> K.shape, bool(np.allclose(K, K.T))
    ((5, 5), True)
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[1] < 3 or theta.shape[0] < 1:
        raise ValueError(f"theta has shape {theta.shape}; allowed: (m, d + 2) with d >= 1")
    m, d = theta.shape[0], theta.shape[1] - 2
    x1 = _inputs("x1", x1, d)
    x2 = x1 if x2 is None else _inputs("x2", x2, d)
    lc, la, lb = _rates(lr)
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block={block!r} is invalid; allowed: an integer >= 1")
    s = _effective_alpha(alpha, scaling, m) / m
    A = theta[:, 1:d + 1]
    b = theta[:, d + 1] if bias else np.zeros(m)
    c = theta[:, 0]

    def feats(x):
        S, G = _features(activation, x @ A.T + b, leak)
        return S, G * c  # (G1 G2^T)_kl = sum_i c_i^2 sigma'(z_ki) sigma'(z_li)

    S2, G2 = feats(x2)
    out = np.empty((x1.shape[0], x2.shape[0]))
    for lo in range(0, x1.shape[0], block):
        xb = x1[lo:lo + block]
        S1, G1 = feats(xb)
        kb = out[lo:lo + xb.shape[0]]
        np.matmul(G1 * (s * s), G2.T, out=kb)
        kb *= la * (xb @ x2.T) + (lb if bias else 0.0)
        if lc:
            kb += (lc * s * s) * (S1 @ S2.T)
    return out


def flow_kernel(theta, x1, x2=None, *, activation="relu", bias=False, alpha=1.0,
                scaling="mean_field", leak=0.01, lr=(1.0, 1.0, 1.0)):
    """The kernel that drives the outputs along the library's flow: (m / alpha_eff^2) K_lr.

    With squared loss on n points, df/dt = -(1/n) K_flow (f - y) on those points
    (mean-field time): a tangent-model run follows :func:`kernel_flow` with this kernel.

    Parameters
    ----------
    theta, x1, x2, activation, bias, alpha, scaling, leak, lr
        As for :func:`empirical_ntk`.

    Returns
    -------
    ndarray, shape (n1, n2)
    """
    m = np.shape(theta)[0]
    ae = _effective_alpha(alpha, scaling, m)
    return (m / ae ** 2) * empirical_ntk(theta, x1, x2, activation=activation, bias=bias,
                                         alpha=alpha, scaling=scaling, leak=leak, lr=lr)


def gauss_pair(activation, s11, s22, s12, leak=0.01):
    """E[sigma(u) sigma(v)] and E[sigma'(u) sigma'(v)] for (u, v) centred Gaussian with
    variances s11, s22 and covariance s12 (closed forms).

    Parameters
    ----------
    activation : str
        One with a closed form (relu, leaky_relu, erf).
    s11, s22, s12 : ndarray
        Arrays of one shape.
    leak : float
        Slope of leaky_relu for negative inputs.

    Returns
    -------
    k0, k1 : ndarray
        E[sigma(u) sigma(v)] and E[sigma'(u) sigma'(v)], shaped like ``s11``.
    """
    s11, s22, s12 = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                          for v in (s11, s22, s12)))
    if activation in ("relu", "leaky_relu"):
        lk = leak if activation == "leaky_relu" else 0.0
        # sigma = lk min(z, 0) + max(z, 0): the arc-cosine kernels of orders 1 and 0
        prod = s11 * s22
        root = np.sqrt(np.maximum(prod - s12 * s12, 0.0))
        angle = np.arctan2(root, s12)
        angle = np.where(prod > 0, angle, math.pi / 2)
        factor = (1.0 - lk) ** 2 / (2.0 * math.pi)
        dot = (1.0 + lk * lk) / 2.0 - factor * angle
        return factor * root + dot * s12, dot
    if activation == "erf":
        prod = (1.0 + 2.0 * s11) * (1.0 + 2.0 * s22)
        root = np.sqrt(np.maximum(prod - 4.0 * s12 * s12, 0.0))
        return ((2.0 / math.pi) * np.arctan2(2.0 * s12, root),
                (4.0 / math.pi) / root)
    raise ValueError(f"activation={activation!r} has no closed-form Gaussian kernel here; "
                     f"allowed: {', '.join(KERNEL_ACTIVATIONS)}")




def arccos1(n1, n2, t):
    """2 pi E[relu(u . x) relu(w . x)], x ~ N(0, I), for norms |u| = n1 (n,), |w| = n2
    (k,) and angles t (n, k) between them: the order-1 arc-cosine kernel that
    :func:`gauss_pair` gives for relu, in the (norm, angle) form the tangent oracle uses.

    Parameters
    ----------
    n1 : ndarray, shape (n,)
    n2 : ndarray, shape (k,)
    t : ndarray, shape (n, k)
        Angles in [0, pi].

    Returns
    -------
    ndarray, shape (n, k)
    """
    return np.outer(n1, n2) * (np.sin(t) + (np.pi - t) * np.cos(t))

