"""Initial particles.

All schemes return a C-contiguous (m, d + 2) array (c | a | b). With
``symmetric=True`` neurons come in adjacent pairs (c, a, b), (-c, a, b): summed in
order, the output is exactly 0 at initialisation, as the lazy-training theory
assumes (docs/theory.md, "Output scale and the lazy regime").
"""
import os

import numpy as np

from .._checks import _check_int, _check_rng
from ..config import INIT_SCHEMES


C_LAWS = ("gaussian", "abs_gaussian", "uniform")


def initialize(rng, m, d, *, scheme="gaussian", tau=1.0, tau_c=None, tau_a=None, tau_b=None,
               bias=False, symmetric=False, c_law="gaussian", dtype=np.float64):
    """Random initial particles.

    Parameters
    ----------
    rng : numpy.random.Generator
    m, d : int
        Number of particles (even if ``symmetric``) and input dimension.
    scheme : {"gaussian", "sphere"}
        "gaussian": c ~ N(0, tau_c^2), a ~ N(0, tau_a^2 I_d), b ~ N(0, tau_b^2).
        "sphere": a uniform on the sphere of radius tau_a, c and b Gaussian as above.
    tau : float
        Default for the per-layer scales tau_c, tau_a, tau_b.
    tau_c, tau_a, tau_b : float, optional
        Per-layer scales of c, a and b (default: ``tau``).
    bias : bool
        Draw b (otherwise b = 0).
    symmetric : bool
        Pairs (c, a, b), (-c, a, b) in adjacent rows.
    c_law : {"gaussian", "abs_gaussian", "uniform"}
        Law of the output weights before the symmetric copies: tau_c N(0, 1),
        tau_c |N(0, 1)| or tau_c Uniform[0, 1] (the published symmetric
        initialisations take c >= 0 for the first neuron of each pair).
    dtype : numpy dtype

    Returns
    -------
    theta : ndarray, shape (m, d + 2)
    """
    _check_rng("rng", rng)
    _check_int("m", m, 1)
    _check_int("d", d, 1)
    if scheme not in ("gaussian", "sphere"):
        raise ValueError(f"scheme={scheme!r} is invalid; allowed: 'gaussian', 'sphere' "
                         "(see torus() for 'grid' and 'uniform')")
    tc, ta, tb = (tau if t is None else t for t in (tau_c, tau_a, tau_b))
    for name, t in (("tau", tau), ("tau_c", tc), ("tau_a", ta), ("tau_b", tb)):
        if not np.isfinite(t) or t < 0:
            raise ValueError(f"{name}={t!r} is invalid; allowed: a finite number >= 0")
    if c_law not in C_LAWS:
        raise ValueError(f"c_law={c_law!r} is invalid; allowed: {', '.join(C_LAWS)}")
    if symmetric and m % 2:
        raise ValueError(f"m={m} is invalid with symmetric=True; allowed: an even m")
    k = m // 2 if symmetric else m
    base = np.zeros((k, d + 2))
    if c_law == "uniform":
        base[:, 0] = tc * rng.uniform(size=k)
    else:
        base[:, 0] = tc * rng.standard_normal(k)
        if c_law == "abs_gaussian":
            base[:, 0] = np.abs(base[:, 0])
    a = rng.standard_normal((k, d))
    if scheme == "sphere":
        a /= np.linalg.norm(a, axis=1, keepdims=True)
    base[:, 1:d + 1] = ta * a
    if bias:
        base[:, d + 1] = tb * rng.standard_normal(k)
    if symmetric:
        theta = np.repeat(base, 2, axis=0)
        theta[1::2, 0] *= -1.0
    else:
        theta = base
    return np.ascontiguousarray(theta, dtype=dtype)


def torus(rng, m, *, scheme="grid", mass=1.0, symmetric=False, dtype=np.float64):
    """A measure on the torus [0, 1): m particles of mass ``mass`` with alternating signs.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the positions of the "uniform" scheme (not used by "grid").
    m : int
    scheme : {"grid", "uniform"}
        Positions (i + 1/2) / m, or i.i.d. uniform on [0, 1).
    mass : float
        |c_i| >= 0 (the measure has total variation ``mass``).
    symmetric : bool
        m/2 positions, each holding +mass and -mass in adjacent rows (the measure is
        exactly 0); needs an even m.
    dtype : numpy dtype

    Returns
    -------
    theta : ndarray, shape (m, 3)
        Rows (c_i, p_i, 0) with c_i = +mass, -mass, +mass, ...
    """
    _check_int("m", m, 1)
    if scheme not in ("grid", "uniform"):
        raise ValueError(f"scheme={scheme!r} is invalid; allowed: 'grid', 'uniform'")
    if not np.isfinite(mass) or mass < 0:
        raise ValueError(f"mass={mass!r} is invalid; allowed: a finite number >= 0")
    if symmetric and m % 2:
        raise ValueError(f"m={m} is invalid with symmetric=True; allowed: an even m")
    k = m // 2 if symmetric else m
    theta = np.zeros((m, 3))
    theta[:, 0] = mass * np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
    p = (np.arange(k) + 0.5) / k if scheme == "grid" else rng.uniform(size=k)
    theta[:, 1] = np.repeat(p, 2) if symmetric else p
    return np.ascontiguousarray(theta, dtype=dtype)


def check_theta(theta, m, d, bias, dtype=np.float64):
    """Validate a user array of particles and return a C-contiguous copy."""
    arr = np.array(theta, dtype=dtype, copy=True)
    if arr.shape != (m, d + 2):
        raise ValueError(f"theta has shape {arr.shape}; allowed: (m, d + 2) = ({m}, {d + 2})")
    if not np.all(np.isfinite(arr)):
        raise ValueError("theta contains NaN or Inf; allowed: finite values only")
    if not bias and np.any(arr[:, d + 1] != 0):
        raise ValueError("theta has nonzero biases (column d + 1) but network.bias is false; "
                         "allowed: zeros in the b column")
    return np.ascontiguousarray(arr)


def from_config(ic, network, d, rng, dtype, theta=None):
    """Initial particles described by an :class:`~particles.config.InitConfig`."""
    if ic.scheme == "array" or theta is not None:
        if theta is None:
            if not ic.path:
                raise ValueError("init.path is required with init.scheme = 'array' "
                                 "(or pass theta)")
            if not os.path.isfile(ic.path):
                raise ValueError(f"init.path={ic.path!r} is not a file; allowed: a .npy file "
                                 f"with an ({network.m}, {d + 2}) array")
            try:
                theta = np.load(ic.path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ValueError(f"init.path={ic.path!r} is not a .npy array ({reason}); "
                                 f"allowed: a .npy file with an ({network.m}, {d + 2}) "
                                 "array") from None
            if not isinstance(theta, np.ndarray):  # an .npz archive
                theta.close()
                raise ValueError(f"init.path={ic.path!r} is an .npz archive; allowed: a .npy "
                                 f"file with an ({network.m}, {d + 2}) array")
        return check_theta(theta, network.m, d, network.bias, dtype)
    tc, ta, tb = ic.scales
    if ic.scheme in ("grid", "uniform"):
        return torus(rng, network.m, scheme=ic.scheme, mass=tc, symmetric=ic.symmetric,
                     dtype=dtype)
    return initialize(rng, network.m, d, scheme=ic.scheme, tau=ic.tau, tau_c=tc, tau_a=ta,
                      tau_b=tb, bias=network.bias, symmetric=ic.symmetric, c_law=ic.c_law,
                      dtype=dtype)
