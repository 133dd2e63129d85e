"""Oracles on samples: a fixed Monte Carlo sample (`sampled`), the user's data set
(`dataset`) and a fresh batch per call (`online`, for SGD)."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .._numba.jit import jit
from ..registry import activation_code
from ..kernels import sampled as _sampled
from ..kernels.dispatch import register
from .._checks import _check_rng
from ..model.problems import sample_inputs
from .base import Oracle, check_problem

SampleParams = namedtuple("SampleParams", "X y code leak bias alpha loss")
OnlineParams = namedtuple("OnlineParams",
                          "gen teacher tcode tbias sphere code leak bias alpha loss")
SampleWork = namedtuple("SampleWork",
                        "lacc lane_risk at bvec cvec zbuf hbuf gbuf fbuf tbuf xt xt_fixed part "
                        "xb yb")
#: what the compiled loops receive for the `sampled` and `dataset` oracles
SampledData = namedtuple("SampledData", "params work")
#: what the compiled loops receive for the `online` oracle
OnlineData = namedtuple("OnlineData", "params work")


@jit
def _sampled_velocity(theta, data, out):
    return _sampled.sampled_velocity(theta, data.params, data.work, out)


@jit
def _online_velocity(theta, data, out):
    return _sampled.online_velocity(theta, data.params, data.work, out)


register(SampledData, _sampled_velocity)
register(OnlineData, _online_velocity)


def block_rows(m):
    """Rows per BLAS block: about 2^18 entries per (block x m) buffer, 16..512 rows."""
    return int(min(512, max(16, 2 ** 18 // max(m, 1))))


def _sample_work(m, d, dtype, X=None, batch=0):
    """Work buffers of the sampled kernels; X (n, d) is the fixed sample, if any."""
    lanes = _sampled.LANES
    blas = d > _sampled.FUSED_MAX_D
    if blas:
        rows = block_rows(m)
        zlen, hlen = rows * m, m
    else:
        zlen, hlen = max(_sampled.CHUNK, m), max(_sampled.CHUNK, m)
    if X is not None and not blas:
        xt, fixed = np.ascontiguousarray(X.T, dtype=dtype), 1
    else:
        xt, fixed = np.zeros((d, 0 if blas else batch), dtype), 0
    return SampleWork(lacc=np.zeros((lanes, d + 2, m)), lane_risk=np.zeros(lanes),
                      at=np.zeros((d, m), dtype), bvec=np.zeros(m, dtype),
                      cvec=np.zeros(m, dtype), zbuf=np.zeros((lanes, zlen), dtype),
                      hbuf=np.zeros((lanes, hlen), dtype), gbuf=np.zeros((lanes, hlen), dtype),
                      fbuf=np.zeros((lanes, hlen)),
                      tbuf=np.zeros((lanes, d * m if blas else 0), dtype),
                      xt=xt, xt_fixed=np.array([fixed], np.int64),
                      part=np.zeros((lanes, d + 2, 0 if blas else m), dtype),
                      xb=np.zeros((batch, d), dtype), yb=np.zeros(batch))


def check_sample(X, y, dtype):
    """(X, y) as C-contiguous arrays of ``dtype`` and float64, checked: shapes (n, d) and
    (n,) with n >= 1, finite values (ValueError otherwise)."""
    X = np.ascontiguousarray(X, dtype=dtype)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] < 1:
        raise ValueError(f"X has shape {X.shape} and y {y.shape}; allowed: (n, d) and (n,) "
                         "with n >= 1")
    for name, arr in (("X", X), ("y", y)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or Inf; allowed: finite values only")
    return X, y


def sample_oracle(X, y, m, *, activation="relu", bias=False, alpha=1.0, leak=0.01,
                  loss="squared", kind="sampled", dtype=np.float64):
    """Empirical risk on a fixed sample (the `sampled` and `dataset` oracles).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    m : int
        Number of particles.
    activation, bias, alpha, leak
        The student network (see :class:`particles.NetworkConfig`).
    loss : {"squared", "logistic"}
    kind : {"sampled", "dataset"}
        The name the oracle reports.
    dtype : numpy dtype
        State dtype.

    Returns
    -------
    Oracle
    """
    X, y = check_sample(X, y, dtype)
    if not (isinstance(m, (int, np.integer)) and m >= 1):
        raise ValueError(f"m={m!r} is invalid; allowed: an integer >= 1")
    d = X.shape[1]
    params = SampleParams(X=X, y=y, code=activation_code(activation), leak=float(leak),
                          bias=bool(bias), alpha=float(alpha), loss=_sampled.LOSSES[loss])
    return Oracle(kind, SampledData(params, _sample_work(m, d, dtype, X=X)), m, d, dtype,
                  pairs=m * X.shape[0], sample=(X, y),
                  network=dict(activation=activation, bias=bias, alpha=alpha, leak=leak))


def online_oracle(problem, m, gen, *, batch=100, activation="relu", bias=False, alpha=1.0,
                  leak=0.01, dtype=np.float64):
    """Fresh batch of ``batch`` inputs at every call, drawn from ``gen`` (online SGD).

    The generator's state advances with each call; checkpoint it with
    :func:`particles.model.rng.get_state` to resume a run bit for bit.

    Parameters
    ----------
    problem : Problem
        A teacher-student problem (labels come from its teacher).
    m : int
    gen : numpy.random.Generator
    batch : int
    activation, bias, alpha, leak, dtype
        As for :func:`sample_oracle`.

    Returns
    -------
    Oracle
    """
    check_problem(problem)
    _check_rng("gen", gen)
    if problem.teacher is None:
        raise ValueError("the online oracle needs a teacher-student problem")
    for name, value in (("m", m), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid; allowed: an integer >= 1")
    params = OnlineParams(gen=gen, teacher=np.ascontiguousarray(problem.teacher, np.float64),
                          tcode=activation_code(problem.teacher_activation),
                          tbias=bool(problem.teacher_bias), sphere=problem.inputs == "sphere",
                          code=activation_code(activation), leak=float(leak), bias=bool(bias),
                          alpha=float(alpha), loss=_sampled.LOSSES[problem.loss])
    work = _sample_work(m, problem.d, dtype, batch=batch)
    return Oracle("online", OnlineData(params, work), m, problem.d, dtype, gen=gen,
                  pairs=m * batch, network=dict(activation=activation, bias=bias, alpha=alpha, leak=leak))


def student_kwargs(config):
    net = config.network
    return dict(activation=net.activation, bias=net.bias, alpha=net.effective_alpha,
                leak=net.leak,
                dtype=np.dtype(config.dtype))


def build_sampled(config, problem, streams, stream_name="data", n=None):
    """The `sampled` oracle of a run: ``oracle.n`` inputs from the stream ``stream_name``."""
    n = config.oracle.n if n is None else n
    X = sample_inputs(streams(stream_name), n, problem.d, problem.inputs)
    return sample_oracle(X, problem.labels(X), config.network.m, loss=problem.loss,
                         **student_kwargs(config))


def build_dataset(config, problem, streams, test=False):
    """The `dataset` oracle of a run (its test set when ``test``)."""
    X, y = (problem.X_test, problem.y_test) if test else (problem.X, problem.y)
    return sample_oracle(X, y, config.network.m, loss=problem.loss, kind="dataset",
                         **student_kwargs(config))


def build_online(config, problem, streams):
    """The `online` oracle of a run, drawing from the stream "noise"."""
    return online_oracle(problem, config.network.m, streams("noise"),
                         batch=config.oracle.batch, **student_kwargs(config))
