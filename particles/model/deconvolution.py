"""Sparse deconvolution on the torus: the problem, its observation and first variation.

An unknown signed measure mu* = sum_k w_k delta_{p_k} on T = [0, 1) is observed through
the Dirichlet kernel of cutoff K, y = Phi mu* + noise, with (Phi mu)(x) = int psi(x - p)
d mu(p), psi(x) = sum_{|k| <= K} exp(2 i pi k x), and the noise i.i.d. N(0, sigma^2) on
the 2K + 1 real Fourier coefficients of an orthonormal basis (1, sqrt 2 cos 2 pi k x,
sqrt 2 sin 2 pi k x). The particles (c_i, p_i) describe mu = (1/m) sum_i c_i delta_{p_i}
(p in the a-column of the state, c in the c-column, the b-column unused) and the
objective is

    J(mu) = 1/2 ||Phi mu - y||^2_{L2(T)} + lam |mu|(T).

Everything is exact: the observation is stored by its Fourier coefficients (C_k(y),
S_k(y)), k = 0..K (see :mod:`particles.kernels.deconvolution` for the formulas).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import ConfigError

#: the largest cutoff (the O(m K) oracle and the dense certificate grid stay cheap)
MAX_CUTOFF = 100_000
#: the smallest separation of two spikes, in units of 1 / cutoff
MIN_SEPARATION = 1.0
#: the separation of the spikes drawn from a seed, in units of 1 / cutoff
DRAW_SEPARATION = 2.5


@dataclass(frozen=True, eq=False)
class Deconvolution:
    """A sparse deconvolution problem on the torus (build it with :func:`deconvolution`).

    Attributes
    ----------
    cutoff : int
        K: the observation holds the frequencies |k| <= K.
    spikes : ndarray, shape (m0, 2)
        The truth mu* = sum_k w_k delta_{p_k}, rows (p_k, w_k), p_k in [0, 1).
    noise : float
        sigma >= 0 of the observation noise (per real Fourier coefficient).
    reg : float
        lam >= 0 of the total-variation penalty.
    yc, ys : ndarray, shape (K + 1,)
        The observation's coefficients C_k(y), S_k(y) (ys[0] = 0).
    seed : int or None
        The seed the noise was drawn from (None: noise-free or drawn without a seed).
    """

    cutoff: int
    spikes: np.ndarray
    noise: float
    reg: float
    yc: np.ndarray
    ys: np.ndarray
    seed: object = None

    #: what the rest of the package asks of a problem
    kind = "deconvolution"
    d = 1
    loss = "squared"
    inputs = "torus"
    teacher = None
    X = None
    y = None
    X_test = None
    y_test = None
    is_dataset = False

    @property
    def m0(self):
        """Number of spikes."""
        return int(self.spikes.shape[0])

    def first_variation(self, theta):
        """The first variation V at the particles ``theta``, as a trigonometric polynomial.

        Parameters
        ----------
        theta : array_like, shape (m, 3)

        Returns
        -------
        FirstVariation
            ``V(p)``, ``V'(p)``, ``V''(p)`` on arrays of positions.
        """
        t = np.asarray(theta, dtype=np.float64)
        cs, sn = fourier_coefficients(t[:, 0], t[:, 1], self.cutoff, scale=1.0 / t.shape[0])
        return FirstVariation(cs - self.yc, sn - self.ys)

    def data_term(self, theta):
        """1/2 ||Phi mu - y||^2 at the particles ``theta`` (NumPy).

        Parameters
        ----------
        theta : ndarray, shape (m, 3)
            Particles (c | p | b).

        Returns
        -------
        float
        """
        fv = self.first_variation(theta)
        return 0.5 * float(fv.dc[0] ** 2) + float(np.sum(fv.dc[1:] ** 2 + fv.ds[1:] ** 2))

    def objective(self, theta):
        """J = 1/2 ||Phi mu - y||^2 + lam (1/m) sum_i |c_i| at ``theta``.

        Parameters
        ----------
        theta : ndarray, shape (m, 3)

        Returns
        -------
        float
        """
        t = np.asarray(theta, dtype=np.float64)
        return self.data_term(t) + self.reg * float(np.mean(np.abs(t[:, 0])))

    def truth_objective(self):
        """J at the truth mu* (an upper bound of the optimal value)."""
        fv = FirstVariation(*fourier_coefficients(self.spikes[:, 1], self.spikes[:, 0],
                                                  self.cutoff))
        fv = FirstVariation(fv.dc - self.yc, fv.ds - self.ys)
        return 0.5 * float(fv.dc[0] ** 2) + float(np.sum(fv.dc[1:] ** 2 + fv.ds[1:] ** 2)) \
            + self.reg * float(np.sum(np.abs(self.spikes[:, 1])))

    def __repr__(self):
        return (f"<deconvolution: {self.m0} spikes, cutoff {self.cutoff}, noise {self.noise:g}, "
                f"reg {self.reg:g}>")


class FirstVariation:
    """V(p) = dC_0 + 2 sum_{k=1}^K (dC_k cos 2 pi k p + dS_k sin 2 pi k p) and its
    derivatives.

    Parameters
    ----------
    dc, ds : array_like, shape (K + 1,)
        The residual's cosine and sine coefficients.
    """

    def __init__(self, dc, ds):
        self.dc = np.asarray(dc, dtype=np.float64)
        self.ds = np.asarray(ds, dtype=np.float64)
        self.cutoff = self.dc.size - 1

    def _terms(self, p, order):
        p = np.asarray(p, dtype=np.float64)
        k = np.arange(1, self.cutoff + 1)
        ang = 2 * np.pi * np.multiply.outer(p, k)
        w = (2 * np.pi * k) ** order
        cos, sin = np.cos(ang), np.sin(ang)
        # d^n/dp^n of (dc cos + ds sin): rotate by n quarter turns
        terms = [(self.dc[1:], self.ds[1:]), (self.ds[1:], -self.dc[1:]),
                 (-self.dc[1:], -self.ds[1:])][order]
        out = 2.0 * (cos @ (w * terms[0]) + sin @ (w * terms[1]))
        return out + (self.dc[0] if order == 0 else 0.0)

    def __call__(self, p):
        """V(p), same shape as ``p``."""
        return self._terms(p, 0)

    def derivative(self, p, order=1):
        """V'(p) (``order`` 1) or V''(p) (``order`` 2).

        Parameters
        ----------
        p : array_like
            Positions.
        order : {1, 2}

        Returns
        -------
        ndarray
            Shaped like ``p``.
        """
        if order not in (1, 2):
            raise ValueError(f"order={order!r} is invalid; allowed: 1 or 2")
        return self._terms(p, order)


def fourier_coefficients(weights, positions, cutoff, scale=1.0):
    """C_k = scale sum_j w_j cos(2 pi k p_j) and S_k (sin), k = 0..cutoff (NumPy).

    Parameters
    ----------
    weights, positions : array_like, shape (m,)
    cutoff : int
        K.
    scale : float
        Factor of every coefficient (1/m for particles of mass c_i / m).

    Returns
    -------
    cs, sn : ndarray, shape (cutoff + 1,)
    """
    w = np.asarray(weights, dtype=np.float64)
    ang = 2 * np.pi * np.multiply.outer(np.arange(cutoff + 1), np.asarray(positions, np.float64))
    return scale * (np.cos(ang) @ w), scale * (np.sin(ang) @ w)


def torus_distance(p, q):
    """|p - q| on the torus [0, 1) (elementwise).

    Parameters
    ----------
    p, q : array_like
        Broadcastable positions.

    Returns
    -------
    ndarray
        In [0, 1/2].
    """
    e = np.abs(np.asarray(p, dtype=np.float64) - np.asarray(q, dtype=np.float64)) % 1.0
    return np.minimum(e, 1.0 - e)


def separation(positions):
    """The smallest torus distance between two of ``positions``.

    Parameters
    ----------
    positions : array_like, shape (m0,)

    Returns
    -------
    float
        inf for fewer than two positions.
    """
    p = np.sort(np.asarray(positions, dtype=np.float64) % 1.0)
    if p.size < 2:
        return math.inf
    gaps = np.diff(np.concatenate([p, [p[0] + 1.0]]))
    return float(gaps.min())


def _fail(key, value, allowed, error=ValueError):
    raise error(f"{key}={value!r} is invalid; allowed: {allowed}")


def check_spikes(positions, weights, cutoff, key="spikes", error=ValueError):
    """The spikes as an (m0, 2) float64 array (p, w), or ``error`` naming ``key``.

    Parameters
    ----------
    positions, weights : array_like, shape (m0,)
        Positions in [0, 1), pairwise at least 1 / cutoff apart on the torus, and
        nonzero finite weights.
    cutoff : int
        K (the separation is measured against 1 / K).
    key : str
        The name in the message.
    error : type
        The exception raised.

    Returns
    -------
    ndarray, shape (m0, 2)
    """
    try:
        p = np.array(positions, dtype=np.float64).reshape(-1)
        w = np.array(weights, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        _fail(key, positions, "numbers: positions in [0, 1) and finite weights", error)
    if p.size != w.size or p.size < 1:
        _fail(key, (list(p), list(w)), "as many positions as weights, at least one", error)
    if not (np.all(np.isfinite(p)) and np.all((p >= 0) & (p < 1))):
        _fail(key, p.tolist(), "positions in [0, 1) (the torus)", error)
    if not np.all(np.isfinite(w)) or np.any(w == 0):
        _fail(key, w.tolist(), "finite nonzero weights", error)
    sep = separation(p)
    if sep < MIN_SEPARATION / cutoff:
        _fail(key, p.tolist(), f"positions at least 1 / cutoff = {1 / cutoff:.6g} apart on the "
              f"torus (the closest two are {sep:.6g} apart: the observation cannot tell them "
              "apart)", error)
    return np.ascontiguousarray(np.stack([p, w], axis=1))


def check_cutoff(cutoff, key="cutoff", error=ValueError):
    """The cutoff K as an int, or ``error`` naming ``key``, the value and what is allowed.

    Parameters
    ----------
    cutoff : int
        Between 1 and :data:`MAX_CUTOFF`.
    key : str
        The name in the message (``"problem.cutoff"`` for a config).
    error : type
        The exception raised (ValueError, or ConfigError for a config).

    Returns
    -------
    int
    """
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, np.integer)) \
            or not 1 <= cutoff <= MAX_CUTOFF:
        _fail(key, cutoff, f"an integer between 1 and {MAX_CUTOFF}", error)
    return int(cutoff)


def check_nonnegative(key, value, error=ValueError):
    """``value`` as a float, or ``error`` unless it is a finite number >= 0.

    Parameters
    ----------
    key : str
        The name in the message.
    value : float
    error : type
        The exception raised.

    Returns
    -------
    float
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not (math.isfinite(value) and value >= 0):
        _fail(key, value, "a finite number >= 0", error)
    return float(value)


def deconvolution(positions, weights, *, cutoff, noise=0.0, reg=0.0, seed=None):
    """Sparse deconvolution on the torus: spikes, cutoff, noise and penalty.

    Parameters
    ----------
    positions : array_like, shape (m0,)
        Spike positions p_k in [0, 1), at least 1 / cutoff apart on the torus.
    weights : array_like, shape (m0,)
        Spike weights w_k (signed, nonzero).
    cutoff : int
        K >= 1: the observation keeps the frequencies |k| <= K.
    noise : float
        sigma >= 0: i.i.d. N(0, sigma^2) on the 2K + 1 real Fourier coefficients.
    reg : float
        lam >= 0 of the penalty lam |mu|(T).
    seed : int, optional
        Seed of the noise (stream "teacher" of this seed, as for a random teacher).
        Without it a noisy observation is drawn from fresh entropy (a run file still
        stores it exactly).

    Returns
    -------
    Deconvolution

    Examples
    --------
    >>> import particles as pt
    >>> prob = pt.deconvolution([0.2, 0.7], [1.0, -0.5], cutoff=10)
    >>> prob.m0, prob.cutoff
    (2, 10)
    """
    cutoff = check_cutoff(cutoff)
    spikes = check_spikes(positions, weights, cutoff)
    noise = check_nonnegative("noise", noise)
    reg = check_nonnegative("reg", reg)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        _fail("seed", seed, "None or an integer >= 0")
    yc, ys = fourier_coefficients(spikes[:, 1], spikes[:, 0], cutoff)
    if noise > 0:
        from .rng import stream

        gen = stream(seed, "teacher") if seed is not None else np.random.default_rng()
        z = gen.standard_normal(2 * cutoff + 1)
        yc[0] += noise * z[0]
        yc[1:] += noise * z[1:cutoff + 1] / math.sqrt(2.0)
        ys[1:] += noise * z[cutoff + 1:] / math.sqrt(2.0)
    return Deconvolution(cutoff=cutoff, spikes=spikes, noise=noise, reg=reg, yc=yc, ys=ys,
                         seed=None if seed is None else int(seed))


def draw_spikes(rng, m0, cutoff, separation_units=DRAW_SEPARATION):
    """``m0`` spikes on the torus, pairwise at least ``separation_units / cutoff`` apart,
    with random signs and magnitudes uniform in [0.5, 1.5].

    Positions: ``m0`` gaps drawn uniformly above the separation (a uniform spacing of the
    slack), rotated by a uniform offset, so that the draw never loops.

    Parameters
    ----------
    rng : numpy.random.Generator
    m0 : int
        Number of spikes (at most ``cutoff / separation_units``).
    cutoff : int
        K.
    separation_units : float
        The least separation in units of 1 / K.

    Returns
    -------
    positions, weights : ndarray, shape (m0,)
    """
    sep = separation_units / cutoff
    slack = 1.0 - m0 * sep
    if slack < 0:
        raise ConfigError(f"problem.m0={m0} is invalid with problem.cutoff = {cutoff}; allowed: "
                          f"at most {int(cutoff // separation_units)} spikes (drawn spikes are "
                          f"{separation_units} / cutoff apart)")
    cuts = np.sort(rng.uniform(0.0, slack, m0))
    gaps = np.diff(np.concatenate([[0.0], cuts])) + sep
    positions = (np.cumsum(gaps) + rng.uniform()) % 1.0
    signs = np.where(rng.random(m0) < 0.5, -1.0, 1.0)
    weights = signs * rng.uniform(0.5, 1.5, m0)
    return positions, weights


def from_config(pc, seed):
    """The Deconvolution described by a :class:`~particles.config.ProblemConfig`
    (spikes given, or ``m0`` drawn from the stream "teacher" of ``pc.seed`` or ``seed``).

    Parameters
    ----------
    pc : particles.ProblemConfig
        With ``kind = "deconvolution"``.
    seed : int
        The run's seed (used when ``pc.seed`` is None).

    Returns
    -------
    Deconvolution
    """
    from .rng import stream

    s = seed if pc.seed is None else pc.seed
    if pc.spikes:
        positions = [p for p, _ in pc.spikes]
        weights = [w for _, w in pc.spikes]
    else:
        positions, weights = draw_spikes(stream(s, "teacher"), pc.m0, pc.cutoff)
    try:
        return deconvolution(positions, weights, cutoff=pc.cutoff, noise=pc.noise, reg=pc.reg,
                             seed=s)
    except ValueError as exc:
        raise ConfigError(f"problem.{exc}") from None


def to_attrs(problem, origin):
    """JSON-friendly, exact description (floats round-trip through JSON).

    Parameters
    ----------
    problem : Deconvolution
    origin : {"config", "python"}
        How the problem was given (stored with it).

    Returns
    -------
    dict
    """
    return {"kind": "deconvolution", "d": 1, "cutoff": problem.cutoff,
            "spikes": problem.spikes.tolist(), "noise": problem.noise, "reg": problem.reg,
            "yc": problem.yc.tolist(), "ys": problem.ys.tolist(), "seed": problem.seed,
            "loss": "squared", "origin": origin}


def from_attrs(attrs):
    """The Deconvolution stored by :func:`to_attrs`.

    Parameters
    ----------
    attrs : dict
        As :func:`to_attrs` wrote it (read back from JSON).

    Returns
    -------
    Deconvolution
    """
    cutoff = check_cutoff(attrs["cutoff"])
    spikes = np.asarray(attrs["spikes"], dtype=np.float64)
    spikes = check_spikes(spikes[:, 0], spikes[:, 1], cutoff)
    yc = np.asarray(attrs["yc"], dtype=np.float64)
    ys = np.asarray(attrs["ys"], dtype=np.float64)
    if yc.shape != (cutoff + 1,) or ys.shape != (cutoff + 1,) or not (
            np.all(np.isfinite(yc)) and np.all(np.isfinite(ys))):
        raise ValueError(f"the observation has shapes {yc.shape}, {ys.shape}; allowed: "
                         f"({cutoff + 1},) each, finite")
    return Deconvolution(cutoff=cutoff, spikes=spikes,
                         noise=check_nonnegative("noise", attrs["noise"]),
                         reg=check_nonnegative("reg", attrs["reg"]), yc=yc, ys=ys,
                         seed=attrs.get("seed"))
