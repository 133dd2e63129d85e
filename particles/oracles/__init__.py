"""Risk oracles: one interface over the exact, sampled, data-set and online risks.

An oracle computes, for particles ``theta`` (m, d + 2), the risk R(f) and the
mean-field velocity v_i = -grad_theta F'(mu)(theta_i) = -m grad_{theta_i} (R / alpha^2),
written into a preallocated array (:class:`~particles.oracles.base.Oracle`). Its
constants and work buffers are one small named tuple of the oracle's own type; the
compiled integrator loops are specialised on that type (see
:mod:`particles.kernels.dispatch`), so a run compiles only the oracle it uses.

Adding an oracle is one module (its data type, its compiled velocity registered with
:func:`particles.kernels.dispatch.register`, a factory and a ``build(config, problem,
streams)`` function) and one line in :data:`particles.registry.ORACLES`. Importing this
package is cheap: the oracle modules (and Numba) load when an oracle is built.
"""
from __future__ import annotations

import importlib

from ..registry import ORACLES as KINDS  # kind -> "module:builder" (one table, in the registry)

_PUBLIC = {"Oracle": "base", "exact_oracle": "exact", "has_exact": "exact",
           "sample_oracle": "sampled", "online_oracle": "sampled",
           "deconvolution_oracle": "deconvolution"}


def __getattr__(name):
    mod = _PUBLIC.get(name)
    if mod is None:
        raise AttributeError(f"module 'particles.oracles' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)


def builder(kind):
    """The builder function registered for oracle ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"oracle.kind={kind!r} is invalid; allowed: {', '.join(KINDS)}")
    module, func = KINDS[kind].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def from_config(config, problem, streams, theta0=None):
    """The oracles of a run.

    Parameters
    ----------
    config : particles.Config
    problem : particles.Problem
        The resolved problem (already checked against ``config``).
    streams : callable
        ``streams(name) -> numpy.random.Generator``: the run's named streams.
    theta0 : ndarray, shape (m, d + 2), optional
        The initial particles; needed by the tangent model (``network.model``).

    Returns
    -------
    train : Oracle
        The oracle the dynamics follow.
    test : Oracle or None
        A deterministic oracle for the records when it differs from ``train``: the
        exact risk when it applies to a sampled/online run, otherwise a fixed
        monitor sample (``oracle.n_monitor`` > 0) or the data set's test part.
    """
    from .exact import has_exact, has_exact_tangent
    from .sampled import build_dataset, build_sampled

    from ..registry import PROBLEM_ORACLES

    kind = config.oracle.kind
    net = config.network
    own = PROBLEM_ORACLES.get(config.problem.kind)
    if own is not None:  # a problem with its own exact oracle (deconvolution)
        module, func = own.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), func)(
            config, problem, streams), None
    if net.model == "tangent":
        from .tangent import build

        if theta0 is None:
            raise ValueError("the tangent model needs the initial particles theta0")
        train = build(config, problem, streams, theta0)
        test = None
        if kind in ("sampled", "online") and has_exact_tangent(problem, net.activation,
                                                                net.bias):
            test = build(config, problem, streams, theta0, role="exact")
        elif kind in ("sampled", "online") and config.oracle.n_monitor > 0:
            test = build(config, problem, streams, theta0, role="monitor")
        elif kind == "dataset" and problem.X_test is not None:
            test = build(config, problem, streams, theta0, role="test")
        return train, test
    train = builder(kind)(config, problem, streams)
    test = None
    if kind in ("sampled", "online") and has_exact(problem, net.activation, net.bias):
        test = builder("exact")(config, problem, streams)
    elif kind in ("sampled", "online") and config.oracle.n_monitor > 0:
        test = build_sampled(config, problem, streams, "monitor", config.oracle.n_monitor)
    elif kind == "dataset" and problem.X_test is not None:
        test = build_dataset(config, problem, streams, test=True)
    return train, test
