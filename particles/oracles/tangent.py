"""Oracles of the tangent (linearised) model, ``network.model = "tangent"``.

The tangent model trains f_bar(x) = f(x; theta0) + Df(theta0)(theta - theta0) with the
same integrators, records and store as the full model (docs/lazy.md). It exists for
the oracles that work on samples: a fixed Monte Carlo sample (`sampled`), the user's
data set (`dataset`) and a fresh batch per step (`online`); and for the exact
(Gaussian or sphere) population risk when the student and the teacher are bias-free
ReLU networks, where the second mixed moments E[1(u.x > 0) 1(w.x > 0) x x^T] it needs
have a closed form (:mod:`particles.kernels.exact_tangent`). Other activations and
biases have no exact tangent oracle here.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .._numba.jit import jit
from ..config.rules import exact_tangent_rule
from ..model.network import arccos1
from ..registry import activation_code
from ..kernels import sampled as _sampled
from ..kernels import exact_tangent as _exact_tangent
from ..kernels import tangent as _tangent
from ..kernels.dispatch import register
from ..model.problems import sample_inputs
from .base import Oracle
from .sampled import student_kwargs, block_rows, check_sample

TangentParams = namedtuple("TangentParams", "X y a0t b0 c0 code leak bias alpha loss")
OnlineTangentParams = namedtuple("OnlineTangentParams", "gen teacher tcode tbias sphere a0t b0 "
                                                        "c0 code leak bias alpha loss")
TangentWork = namedtuple("TangentWork", "lacc lane_risk c dat db zbuf dbuf hbuf gbuf tbuf xb "
                                        "yb")
#: what the compiled loops receive for the tangent model on a fixed sample
TangentData = namedtuple("TangentData", "params work")
#: ... and on fresh batches (online SGD)
OnlineTangentData = namedtuple("OnlineTangentData", "params work")
ExactTangentParams = namedtuple("ExactTangentParams", "ahat a0 norms c0 T U t sin cos K0 W3 "
                                                      "const alpha scale")
ExactTangentWork = namedtuple("ExactTangentWork", "c delta deltat D W1 w2 P Q tmp")
#: ... and on the exact population risk (bias-free relu)
ExactTangentData = namedtuple("ExactTangentData", "params work")


@jit
def _sampled_velocity(theta, data, out):
    return _tangent.tangent_sampled(theta, data.params, data.work, out)


@jit
def _online_velocity(theta, data, out):
    return _tangent.tangent_online(theta, data.params, data.work, out)


@jit
def _exact_velocity(theta, data, out):
    return _exact_tangent.exact_tangent_velocity(theta, data.params, data.work, out)


register(TangentData, _sampled_velocity)
register(OnlineTangentData, _online_velocity)
register(ExactTangentData, _exact_velocity)

def _work(m, d, dtype, batch=0):
    lanes, rows = _sampled.LANES, block_rows(m)
    return TangentWork(lacc=np.zeros((lanes, d + 2, m)), lane_risk=np.zeros(lanes),
                       c=np.zeros(m, dtype), dat=np.zeros((d, m), dtype),
                       db=np.zeros(m, dtype), zbuf=np.zeros((lanes, rows * m), dtype),
                       dbuf=np.zeros((lanes, rows * m), dtype),
                       hbuf=np.zeros((lanes, m), dtype), gbuf=np.zeros((lanes, m), dtype),
                       tbuf=np.zeros((lanes, d * m), dtype), xb=np.zeros((batch, d), dtype),
                       yb=np.zeros(batch))


def _base(theta0, d, dtype):
    theta0 = np.asarray(theta0)
    if theta0.ndim != 2 or theta0.shape[1] != d + 2 or theta0.shape[0] < 1:
        raise ValueError(f"theta0 has shape {theta0.shape}; allowed: (m, d + 2) with d = {d}")
    if not np.all(np.isfinite(theta0)):
        raise ValueError("theta0 contains NaN or Inf; allowed: finite values only")
    t = np.asarray(theta0, dtype=dtype)
    return (np.ascontiguousarray(t[:, 1:d + 1].T), np.ascontiguousarray(t[:, d + 1]),
            np.ascontiguousarray(t[:, 0]))


def tangent_oracle(X, y, theta0, *, activation="relu", bias=False, alpha=1.0, leak=0.01,
                   loss="squared", kind="sampled", dtype=np.float64):
    """Risk and velocity of the tangent model around ``theta0`` on a fixed sample.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    theta0 : array_like, shape (m, d + 2)
        The particles the model is linearised at (the run's initial particles).
    activation, bias, alpha, leak
        The student network (``alpha`` is the effective output scale, see
        :attr:`particles.NetworkConfig.effective_alpha`).
    loss : {"squared", "logistic"}
    kind : {"sampled", "dataset"}
        The name the oracle reports.
    dtype : numpy dtype

    Returns
    -------
    Oracle
        With ``model == "tangent"``.

    Examples
    --------
    >>> import numpy as np
    >>> from particles.oracles.tangent import tangent_oracle
    >>> rng = np.random.default_rng(0)
    >>> X, theta0 = rng.standard_normal((50, 3)), rng.standard_normal((4, 5))
    >>> theta0[:, -1] = 0
    >>> orc = tangent_oracle(X, np.ones(50), theta0)
    >>> r0 = orc.risk(theta0.copy())   # at theta0 the tangent and full models agree
    """
    X, y = check_sample(X, y, dtype)
    m, d = np.shape(theta0)[0], X.shape[1]
    a0t, b0, c0 = _base(theta0, d, dtype)
    params = TangentParams(X=X, y=y, a0t=a0t, b0=b0, c0=c0, code=activation_code(activation),
                           leak=float(leak), bias=bool(bias), alpha=float(alpha),
                           loss=_sampled.LOSSES[loss])
    orc = Oracle(kind, TangentData(params, _work(m, d, dtype)), m, d, dtype,
                 pairs=m * X.shape[0], sample=(X, y),
                 network=dict(activation=activation, bias=bias, alpha=alpha, leak=leak))
    orc.model = "tangent"
    return orc


def online_tangent_oracle(problem, theta0, gen, *, batch=100, activation="relu", bias=False,
                          alpha=1.0, leak=0.01, dtype=np.float64):
    """The tangent model on a fresh batch of ``batch`` inputs per call (online SGD).

    Parameters are those of :func:`tangent_oracle` and
    :func:`particles.oracles.sampled.online_oracle`.

    Returns
    -------
    Oracle
    """
    if problem.teacher is None:
        raise ValueError("the online oracle needs a teacher-student problem")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch={batch!r} is invalid; allowed: an integer >= 1")
    m, d = np.shape(theta0)[0], problem.d
    a0t, b0, c0 = _base(theta0, d, dtype)
    params = OnlineTangentParams(
        gen=gen, teacher=np.ascontiguousarray(problem.teacher, np.float64),
        tcode=activation_code(problem.teacher_activation), tbias=bool(problem.teacher_bias),
        sphere=problem.inputs == "sphere", a0t=a0t, b0=b0, c0=c0,
        code=activation_code(activation), leak=float(leak), bias=bool(bias),
        alpha=float(alpha), loss=_sampled.LOSSES[problem.loss])
    orc = Oracle("online", OnlineTangentData(params, _work(m, d, dtype, batch)), m, d, dtype,
                 gen=gen, pairs=m * batch,
                 network=dict(activation=activation, bias=bias, alpha=alpha, leak=leak))
    orc.model = "tangent"
    return orc


def _angles(u, w):
    """Angles between the rows of u (n, d) and w (k, d), all unit or zero: t = 2
    atan2(|u - w|, |u + w|) (accurate for nearly parallel rows, unlike arccos)."""
    t = np.empty((u.shape[0], w.shape[0]))
    for i in range(u.shape[0]):
        t[i] = 2.0 * np.arctan2(np.linalg.norm(w - u[i], axis=1),
                                np.linalg.norm(w + u[i], axis=1))
    return t


def _unit_rows(a):
    """Row norms of ``a`` and its rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(a, axis=1)
    hat = np.zeros_like(a)
    hat[norms > 0] = a[norms > 0] / norms[norms > 0, None]
    return norms, hat


def exact_tangent_oracle(problem, theta0, *, alpha=1.0, dtype=np.float64):
    """Exact population risk and velocity of the tangent model around ``theta0``.

    For a bias-free ReLU student and teacher, Gaussian or sphere inputs and the squared
    loss (closed forms in :mod:`particles.kernels.exact_tangent`). Cost per call:
    three (m x m x d) matrix products and O(m^2) scalar work.

    Parameters
    ----------
    problem : Problem
        Teacher-student problem with a bias-free relu teacher.
    theta0 : array_like, shape (m, d + 2)
        The linearisation point (its b column must be 0).
    alpha : float
        Effective output scale.
    dtype : numpy dtype

    Returns
    -------
    Oracle
    """
    from .exact import input_scale

    t0 = np.asarray(theta0, dtype=np.float64)
    d = problem.d
    if problem.teacher is None or exact_tangent_rule(
            problem.inputs, problem.loss, problem.teacher_activation, problem.teacher_bias,
            "relu", False) is not None:
        raise ValueError("the exact tangent oracle needs a bias-free relu teacher and the "
                         f"squared loss (got teacher_activation="
                         f"{problem.teacher_activation!r}, teacher_bias={problem.teacher_bias}, "
                         f"loss={problem.loss!r}); allowed otherwise: oracle.kind 'sampled', "
                         "'online' or 'dataset'")
    if t0.ndim != 2 or t0.shape[1] != d + 2 or t0.shape[0] < 1:
        raise ValueError(f"theta0 has shape {t0.shape}; allowed: (m, {d + 2})")
    if not np.all(np.isfinite(t0)) or np.any(t0[:, d + 1] != 0):
        raise ValueError("theta0 must be finite with a zero b column (bias-free relu)")
    m = t0.shape[0]
    a0 = np.ascontiguousarray(t0[:, 1:d + 1])
    norms, ahat = _unit_rows(a0)
    active = norms > 0
    c0 = np.where(active, t0[:, 0], 0.0)  # a neuron with a0 = 0 has no features
    t = _angles(ahat, ahat)
    sin, cos = np.sin(t), np.cos(t)
    K0 = arccos1(norms, norms, t)
    W3 = c0[None, :] * (np.pi - t)
    teacher = np.asarray(problem.teacher, dtype=np.float64)
    cs, a_star = teacher[:, 0], teacher[:, 1:d + 1]
    n_star, s_hat = _unit_rows(a_star)
    ts = _angles(ahat, s_hat)
    scale = input_scale(problem)
    # T_i = E[y relu(a0_i.x)], U_i = E[y 1(a0_i.x > 0) x]
    T = scale * arccos1(norms, n_star, ts) @ cs / (2 * np.pi)
    U = scale * ((np.pi - ts) * cs) @ a_star / (2 * np.pi)
    U += scale * ahat * ((np.sin(ts) * n_star) @ cs)[:, None] / (2 * np.pi)
    U[~active] = 0.0
    tt = _angles(s_hat, s_hat)
    const = 0.5 * scale * cs @ arccos1(n_star, n_star, tt) @ cs / (2 * np.pi)
    f = np.dtype(dtype)
    params = ExactTangentParams(
        ahat=ahat.astype(f), a0=a0.astype(f), norms=norms, c0=c0, T=T,
        U=np.ascontiguousarray(U), t=t, sin=sin, cos=cos, K0=K0,
        W3=np.ascontiguousarray(W3, dtype=f), const=float(const), alpha=float(alpha),
        scale=float(scale))
    work = ExactTangentWork(c=np.zeros(m), delta=np.zeros((m, d), f),
                            deltat=np.zeros((d, m), f), D=np.zeros((m, m), f),
                            W1=np.zeros((m, m), f), w2=np.zeros(m), P=np.zeros(m),
                            Q=np.zeros((m, d), f), tmp=np.zeros((m, d), f))
    orc = Oracle("exact", ExactTangentData(params, work), m, d, dtype, pairs=m * m,
                 network=dict(activation="relu", bias=False, alpha=alpha))
    orc.model = "tangent"
    return orc


def build(config, problem, streams, theta0, role="train"):
    """The tangent oracle of a run for ``role`` "train", "exact", "monitor" or "test".

    "train" follows ``oracle.kind``; "exact" is the exact population risk (reported by
    sampled and online runs when it applies); "monitor" is the fixed sample of
    ``n_monitor`` inputs that reports the risk of sampled and online runs otherwise;
    "test" is the data set's test part.
    """
    kind = config.oracle.kind
    if role == "exact" or (role == "train" and kind == "exact"):
        return exact_tangent_oracle(problem, theta0, alpha=config.network.effective_alpha,
                                    dtype=np.dtype(config.dtype))
    if role == "train" and kind == "online":
        return online_tangent_oracle(problem, theta0, streams("noise"),
                                     batch=config.oracle.batch, **student_kwargs(config))
    if kind == "dataset":
        X, y = (problem.X_test, problem.y_test) if role == "test" else (problem.X, problem.y)
        return tangent_oracle(X, y, theta0, loss=problem.loss, kind="dataset",
                              **student_kwargs(config))
    name, n = ("data", config.oracle.n) if role == "train" else ("monitor",
                                                                 config.oracle.n_monitor)
    X = sample_inputs(streams(name), n, problem.d, problem.inputs)
    return tangent_oracle(X, problem.labels(X), theta0, loss=problem.loss, **student_kwargs(config))
