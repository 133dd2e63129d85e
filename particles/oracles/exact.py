"""The `exact` oracle: closed-form population risk for Gaussian (or sphere) inputs."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .._numba.jit import jit
from ..registry import activation_code
from ..config.rules import exact_rule, exact_tangent_rule
from ..kernels import exact as _exact
from ..kernels.exact import ROWS_ERF_BIAS, ROWS_PAIRWISE, ROWS_RELU, ROWS_RELU_BIAS
from ..kernels.dispatch import register
from ..kernels.pairs import gaussian_rules, pair_array
from ..model.state import C
from .base import Oracle, check_problem

ExactParams = namedtuple("ExactParams", "code leak bias alpha scale teacher const nodes "
                                        "weights counts")
ExactWork = namedtuple("ExactWork", "a_all norms inv_norms ws lacc lga gbuf mbuf tbuf rbuf "
                                     "biases hinfo vbuf")
#: what the compiled loops receive for this oracle: one class per kind of student rows
#: (:func:`particles.kernels.exact.rows_kind`), so that the kind is a compile-time
#: constant and a run compiles its own kernel only
ExactData = namedtuple("ExactData", "params work")
ExactReluData = namedtuple("ExactReluData", "params work")
ExactReluBiasData = namedtuple("ExactReluBiasData", "params work")
ExactErfBiasData = namedtuple("ExactErfBiasData", "params work")
_DATA = {ROWS_PAIRWISE: ExactData, ROWS_RELU: ExactReluData,
         ROWS_RELU_BIAS: ExactReluBiasData, ROWS_ERF_BIAS: ExactErfBiasData}


@jit
def _velocity(theta, data, out):
    return _exact.exact_velocity(theta, data.params, data.work, out, ROWS_PAIRWISE)


@jit
def _velocity_relu(theta, data, out):
    return _exact.exact_velocity(theta, data.params, data.work, out, ROWS_RELU)


@jit
def _velocity_relu_bias(theta, data, out):
    return _exact.exact_velocity(theta, data.params, data.work, out, ROWS_RELU_BIAS)


@jit
def _velocity_erf_bias(theta, data, out):
    return _exact.exact_velocity(theta, data.params, data.work, out, ROWS_ERF_BIAS)


register(ExactData, _velocity)
register(ExactReluData, _velocity_relu)
register(ExactReluBiasData, _velocity_relu_bias)
register(ExactErfBiasData, _velocity_erf_bias)


def input_scale(problem):
    """E[x x^T] = scale * I: 1 for Gaussian inputs, 1/d on the sphere."""
    return 1.0 / problem.d if problem.inputs == "sphere" else 1.0


def pair_moments(code, leak, bias, A, B, rules):
    """E[sigma(a_i . x + b_i) sigma(a'_j . x + b'_j)] for x ~ N(0, I), from the pair
    integrals of the exact oracle.

    Parameters
    ----------
    code, leak, bias
        Activation code, leaky slope, whether any bias is nonzero.
    A, B : ndarray, shapes (n, d + 1) and (k, d + 1)
        Hidden units as rows (a | b). When ``B is A`` the diagonal pairs get the
        correlation 1 exactly.
    rules : tuple
        :func:`particles.kernels.pairs.gaussian_rules` (smooth activations).

    Returns
    -------
    ndarray, shape (n, k)
    """
    d = A.shape[1] - 1
    na, nb = np.linalg.norm(A[:, :d], axis=1), np.linalg.norm(B[:, :d], axis=1)
    i, j = np.meshgrid(np.arange(A.shape[0]), np.arange(B.shape[0]), indexing="ij")
    i, j = i.ravel(), j.ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (A[i, :d] * B[j, :d]).sum(1) / (na[i] * nb[j])
    if B is A:
        rho[i == j] = 1.0
    rho = np.clip(np.nan_to_num(rho), -1.0, 1.0)
    if code == activation_code("relu") and not bias:
        # the arc-cosine closed form of relu_pair_both, in NumPy: the default job does
        # not compile the general pair functions for its teacher's constant
        r = np.sqrt(np.maximum((1.0 - rho) * (1.0 + rho), 0.0))
        angle = np.arctan2(r, rho)
        moment = na[i] * nb[j] * (r + (np.pi - angle) * rho) / (2.0 * np.pi)
        return moment.reshape(A.shape[0], B.shape[0])
    out = np.empty((i.size, 4))
    pair_array(code, float(leak), bool(bias), np.ascontiguousarray(A[i, d]),
               np.ascontiguousarray(B[j, d]), np.ascontiguousarray(na[i]),
               np.ascontiguousarray(nb[j]), np.ascontiguousarray(rho), *rules, out)
    return out[:, 0].reshape(A.shape[0], B.shape[0])


def _teacher_constant(problem, code, leak, bias, rules):
    t = problem.teacher
    hidden = t[:, 1:]
    moments = pair_moments(code, leak, bias, hidden, hidden, rules)
    return 0.5 * input_scale(problem) * float(np.sum(np.outer(t[:, C], t[:, C]) * moments))


def has_exact_tangent(problem, activation, bias):
    """Whether the exact oracle of the tangent model applies (bias-free relu student and
    teacher, squared loss)."""
    return problem.teacher is not None and exact_tangent_rule(
        problem.inputs, problem.loss, problem.teacher_activation, problem.teacher_bias,
        activation, bias) is None


def has_exact(problem, activation, bias):
    """Whether the exact oracle applies to ``problem`` with this student."""
    return problem.teacher is not None and exact_rule(
        problem.inputs, problem.loss, problem.teacher_activation, problem.teacher_bias,
        activation, bias) is None


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
    activation : str
    bias : bool
    alpha : float
        Output scale.
    leak : float
        Negative-side slope of leaky_relu.
    quad_nodes : int
    dtype : numpy dtype
        State dtype (float64 or float32).

    Returns
    -------
    Oracle
    """
    check_problem(problem)
    if problem.teacher is None:
        raise ValueError("the exact oracle needs a teacher-student problem; allowed for "
                         "data sets: the 'dataset' oracle")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m={m!r} is invalid; allowed: an integer >= 1")
    why = exact_rule(problem.inputs, problem.loss, problem.teacher_activation,
                     problem.teacher_bias, activation, bias)
    if why is not None:
        raise ValueError(f"{why[0]}={why[1]!r} has no exact oracle; allowed: {why[2]}")
    code = activation_code(activation)
    bias_any = bool(bias or problem.teacher_bias)
    rules = gaussian_rules(quad_nodes)
    d = problem.d
    teacher = np.ascontiguousarray(problem.teacher, dtype=np.float64)
    const = _teacher_constant(problem, code, leak, bias_any, rules)
    m0 = teacher.shape[0]
    params = ExactParams(code=code, leak=float(leak), bias=bias_any, alpha=float(alpha),
                         scale=input_scale(problem), teacher=teacher, const=const,
                         nodes=rules[0], weights=rules[1], counts=rules[2])
    lanes, blk = _exact.LANES, _exact.BLOCK
    rows = _exact.rows_kind(code, bias_any)
    # work of the vectorised biased rows, when the kernel takes them
    vrows = rows in (ROWS_RELU_BIAS, ROWS_ERF_BIAS)
    work = ExactWork(a_all=np.zeros((m + m0, d), dtype), norms=np.zeros(m + m0),
                     inv_norms=np.zeros(m + m0), ws=np.zeros(m),
                     lacc=np.zeros((lanes, 4, m)), lga=np.zeros((lanes, m, d)),
                     gbuf=np.zeros((lanes, blk * max(blk, m0)), dtype),
                     mbuf=np.zeros((lanes, blk * blk), dtype),
                     tbuf=np.zeros((lanes, blk * d), dtype),
                     rbuf=np.zeros((lanes, 2, blk), dtype),
                     biases=np.zeros(m + m0), hinfo=np.zeros((5, m + m0)),
                     vbuf=np.zeros((lanes, _exact.V_ROWS if vrows else 0, blk)))
    return Oracle("exact", _DATA[rows](params, work), m, d, dtype, pairs=m * (m + m0),
                  network=dict(activation=activation, bias=bias, alpha=alpha, leak=leak))


def build(config, problem, streams):
    """The exact oracle of a run (see :func:`particles.oracles.from_config`)."""
    net = config.network
    return exact_oracle(problem, net.m, activation=net.activation, bias=net.bias,
                        alpha=net.effective_alpha, leak=net.leak,
                        quad_nodes=config.oracle.quad_nodes,
                        dtype=np.dtype(config.dtype))
