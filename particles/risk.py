"""Risk oracles: one interface over the exact, sampled, online and data-set risks.

An oracle computes, for particles ``theta`` (m, d + 2), the risk R(f) and the
mean-field velocity v_i = -grad_theta F'(mu)(theta_i) = -m grad_{theta_i} (R / alpha^2),
written into a preallocated array. It carries a compiled kernel, its constant
parameters and its work buffers; the integrators call the kernel directly inside
their compiled loops, so an oracle never costs a Python call per step.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ._jit import FastCall
from ._threads import pool_owner
from .activations import activation_code
from .kernels import dispatch as _dispatch
from .kernels import exact as _exact
from .kernels import sampled as _sampled
from .kernels.pairs import gaussian_rules, pair_array

ExactParams = namedtuple("ExactParams", "code leak bias alpha scale teacher const nodes weights counts")
ExactWork = namedtuple("ExactWork", "a_all norms inv_norms ws lacc lga gbuf mbuf tbuf rbuf")
SampleParams = namedtuple("SampleParams", "X y code leak bias alpha loss")
OnlineParams = namedtuple("OnlineParams",
                          "gen teacher tcode tbias sphere code leak bias alpha loss")
SampleWork = namedtuple("SampleWork",
                        "lacc lane_risk at bvec cvec zbuf hbuf gbuf fbuf tbuf xt xt_fixed part xb yb")
#: what the compiled loops receive: the oracle's kind and every kernel's inputs, the
#: unused ones as empty placeholders of the right types (see kernels/dispatch.py)
OracleData = namedtuple("OracleData", "kind ep ew sp op sw")


class Oracle:
    """Risk and velocity of one problem for a fixed network shape.

    Attributes
    ----------
    kind : str
        "exact", "sampled", "online" or "dataset".
    kernel : numba dispatcher
        ``kernel(theta, data, out) -> risk`` (:func:`particles.kernels.dispatch.velocity`).
    params, work : namedtuple
        Constant inputs and work buffers of the oracle's kernel.
    data : OracleData
        What the compiled loops receive.
    m, d : int
    dtype : numpy dtype
    """

    def __init__(self, kind, params, work, m, d, dtype, gen=None, owner="numba"):
        self.kind = kind
        self.kernel = _dispatch.velocity
        #: which thread pool does the heavy work ("numba" or "blas"), see _threads
        self.owner = owner
        self.params = params
        self.work = work
        self.data = _bundle(kind, params, work, m, d, dtype)
        self._call = FastCall(_dispatch.velocity)
        self.m = m
        self.d = d
        self.dtype = np.dtype(dtype)
        self.gen = gen

    def _check(self, theta, name="theta"):
        if not isinstance(theta, np.ndarray) or theta.shape != (self.m, self.d + 2):
            shape = getattr(theta, "shape", None)
            raise ValueError(f"{name} has shape {shape}; allowed: ({self.m}, {self.d + 2})")
        if (theta.dtype != self.dtype or not theta.flags.c_contiguous
                or not theta.flags.writeable):
            raise ValueError(f"{name} must be a C-contiguous, writeable {self.dtype} array, "
                             f"got {theta.dtype}")

    def velocity(self, theta, out=None):
        """Risk R(f) at ``theta`` and the velocity.

        Parameters
        ----------
        theta : ndarray, shape (m, d + 2)
        out : ndarray, shape (m, d + 2), optional
            Receives the velocity; allocated if None.

        Returns
        -------
        risk : float
        velocity : ndarray, shape (m, d + 2)
        """
        self._check(theta)
        if out is None:
            out = np.empty_like(theta)
        self._check(out, "out")
        with pool_owner(self.owner):
            risk = self._call(theta, self.data, out)
        return float(risk), out

    def risk(self, theta):
        """Risk R(f) at ``theta`` (computes and discards the velocity)."""
        return self.velocity(theta)[0]


_KINDS = {"exact": _dispatch.EXACT, "sampled": _dispatch.SAMPLED, "dataset": _dispatch.SAMPLED,
          "online": _dispatch.ONLINE}
_PLACEHOLDER_GEN = None


def _placeholders(dtype):
    global _PLACEHOLDER_GEN
    if _PLACEHOLDER_GEN is None:
        _PLACEHOLDER_GEN = np.random.Generator(np.random.PCG64(0))
    e2 = np.zeros((0, 0))
    ep = ExactParams(0, 0.0, False, 1.0, 1.0, e2, 0.0, e2, e2, np.zeros(0, np.int64))
    z = np.zeros((0, 0), dtype)
    ew = ExactWork(z, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, 0, 0)), np.zeros((0, 0, 0)), z, z, z,
                   np.zeros((0, 0, 0)))
    sp = SampleParams(z, np.zeros(0), 0, 0.0, False, 1.0, 0)
    op = OnlineParams(_PLACEHOLDER_GEN, e2, 0, False, False, 0, 0.0, False, 1.0, 0)
    z1 = np.zeros(0, dtype)
    sw = SampleWork(np.zeros((0, 0, 0)), np.zeros(0), z, z1, z1, z, z, z, z, z, z,
                    np.zeros(1, np.int64), np.zeros((0, 0, 0), dtype), z, np.zeros(0))
    return ep, ew, sp, op, sw


def _bundle(kind, params, work, m, d, dtype):
    ep, ew, sp, op, sw = _placeholders(np.dtype(dtype))
    if kind == "exact":
        ep, ew = params, work
    elif kind == "online":
        op, sw = params, work
    else:
        sp, sw = params, work
    return OracleData(_KINDS[kind], ep, ew, sp, op, sw)


def _scale(problem):
    return 1.0 / problem.d if problem.inputs == "sphere" else 1.0


def _teacher_constant(problem, code, leak, bias, rules):
    t = problem.teacher
    m0, d = t.shape[0], problem.d
    i, j = np.meshgrid(np.arange(m0), np.arange(m0), indexing="ij")
    i, j = i.ravel(), j.ravel()
    a = t[:, 1:d + 1]
    norms = np.linalg.norm(a, axis=1)
    gram = a @ a.T
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(i == j, 1.0, gram[i, j] / (norms[i] * norms[j]))
    rho = np.nan_to_num(rho)
    out = np.empty((i.size, 4))
    pair_array(code, leak, bias, np.ascontiguousarray(t[i, d + 1]),
               np.ascontiguousarray(t[j, d + 1]), np.ascontiguousarray(norms[i]),
               np.ascontiguousarray(norms[j]), np.ascontiguousarray(rho), *rules, out)
    return 0.5 * _scale(problem) * float(np.sum(t[i, 0] * t[j, 0] * out[:, 0]))


def exact_oracle(problem, m, *, activation="relu", bias=False, alpha=1.0, leak=0.01,
                 quad_nodes=384, dtype=np.float64):
    """Closed-form population risk for Gaussian inputs (squared loss).

    Exact for relu, leaky_relu and erf, with or without bias, and for sphere inputs
    with bias-free relu / leaky_relu; 2-D quadrature with ``quad_nodes`` nodes per
    dimension at most for sigmoid, tanh and softplus: the rule is chosen per pair
    so that the error stays near 1e-12 up to |a| = quad_nodes p / 80 (p = pi/2 for
    tanh, pi otherwise: |a| <= 7.5 for tanh with the default 384), and degrades
    gracefully beyond (tests/test_pairs.py measures it). Cost O(m^2 d + m m0 d) per call.

    Parameters
    ----------
    problem : Problem
        A teacher-student problem whose teacher uses ``activation``.
    m : int
        Number of particles.

    Returns
    -------
    Oracle
    """
    if problem.teacher is None:
        raise ValueError("the exact oracle needs a teacher-student problem; allowed for "
                         "data sets: the 'dataset' oracle")
    if problem.loss != "squared":
        raise ValueError(f"loss={problem.loss!r} has no exact oracle; allowed: the "
                         "'sampled' or 'online' oracles for the logistic loss")
    if problem.teacher_activation != activation:
        raise ValueError(f"teacher activation {problem.teacher_activation!r} differs from "
                         f"the student's {activation!r}; the exact oracle needs them equal")
    code = activation_code(activation)
    if problem.inputs == "sphere" and (bias or problem.teacher_bias
                                       or activation not in ("relu", "leaky_relu")):
        raise ValueError("inputs='sphere' has an exact oracle only for bias-free relu and "
                         "leaky_relu; allowed otherwise: inputs='gaussian' or a sampled oracle")
    bias_any = bool(bias or problem.teacher_bias)
    rules = gaussian_rules(quad_nodes)
    d = problem.d
    teacher = np.ascontiguousarray(problem.teacher, dtype=np.float64)
    const = _teacher_constant(problem, code, leak, bias_any, rules)
    m0 = teacher.shape[0]
    params = ExactParams(code, float(leak), bias_any, float(alpha), _scale(problem),
                         teacher, const, *rules)
    lanes, blk = _exact.LANES, _exact.BLOCK
    work = ExactWork(np.zeros((m + m0, d), dtype), np.zeros(m + m0), np.zeros(m + m0),
                     np.zeros(m), np.zeros((lanes, 4, m)), np.zeros((lanes, m, d)),
                     np.zeros((lanes, blk * max(blk, m0)), dtype),
                     np.zeros((lanes, blk * blk), dtype), np.zeros((lanes, blk * d), dtype),
                     np.zeros((lanes, 2, blk), dtype))
    return Oracle("exact", params, work, m, d, dtype)


def _sample_work(m, d, dtype, X=None, batch=0):
    """Work buffers of the sampled kernels; X (n, d) is the fixed sample, if any."""
    lanes = _sampled.LANES
    blas = d > _sampled.FUSED_MAX_D
    if blas:
        # rows per BLAS block: about 2^18 entries per (block x m) buffer, 16..512 rows
        rows = int(min(512, max(16, 2 ** 18 // max(m, 1))))
        zlen, hlen = rows * m, m
    else:
        zlen, hlen = max(_sampled.CHUNK, m), max(_sampled.CHUNK, m)
    if X is not None and not blas:
        xt, fixed = np.ascontiguousarray(X.T, dtype=dtype), 1
    else:
        xt, fixed = np.zeros((d, 0 if blas else batch), dtype), 0
    return SampleWork(np.zeros((lanes, d + 2, m)), np.zeros(lanes), np.zeros((d, m), dtype),
                      np.zeros(m, dtype), np.zeros(m, dtype), np.zeros((lanes, zlen), dtype),
                      np.zeros((lanes, hlen), dtype), np.zeros((lanes, hlen), dtype),
                      np.zeros((lanes, hlen)), np.zeros((lanes, d * m if blas else 0), dtype),
                      xt, np.array([fixed], np.int64),
                      np.zeros((lanes, d + 2, 0 if blas else m), dtype),
                      np.zeros((batch, d), dtype), np.zeros(batch))


def _sample_owner(d):
    # both sampled paths run their own lanes; BLAS is called single-threaded inside
    return "numba"


def sample_oracle(X, y, m, *, activation="relu", bias=False, alpha=1.0, leak=0.01,
                  loss="squared", kind="sampled", dtype=np.float64):
    """Empirical risk on a fixed sample (the `sampled` and `dataset` oracles).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    m : int

    Returns
    -------
    Oracle
    """
    X = np.ascontiguousarray(X, dtype=dtype)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n, d = X.shape
    params = SampleParams(X, y, activation_code(activation), float(leak), bool(bias),
                          float(alpha), _sampled.LOSSES[loss])
    return Oracle(kind, params, _sample_work(m, d, dtype, X=X), m, d, dtype,
                  owner=_sample_owner(d))


def online_oracle(problem, m, gen, *, batch=100, activation="relu", bias=False, alpha=1.0,
                  leak=0.01, dtype=np.float64):
    """Fresh batch of ``batch`` inputs at every call, drawn from ``gen`` (online SGD).

    The generator's state advances with each call; checkpoint it with
    :func:`particles.rng.get_state` to resume a run bit for bit.
    """
    if problem.teacher is None:
        raise ValueError("the online oracle needs a teacher-student problem")
    params = OnlineParams(gen, np.ascontiguousarray(problem.teacher, dtype=np.float64),
                          activation_code(problem.teacher_activation), bool(problem.teacher_bias),
                          problem.inputs == "sphere", activation_code(activation), float(leak),
                          bool(bias), float(alpha), _sampled.LOSSES[problem.loss])
    return Oracle("online", params,
                  _sample_work(m, problem.d, dtype, batch=batch), m, problem.d, dtype, gen=gen,
                  owner=_sample_owner(problem.d))


def has_exact(problem, activation, bias):
    """Whether the exact oracle applies to ``problem`` with this student."""
    if problem.teacher is None or problem.loss != "squared":
        return False
    if problem.teacher_activation != activation:
        return False
    if problem.inputs == "sphere":
        return not (bias or problem.teacher_bias) and activation in ("relu", "leaky_relu")
    return True
