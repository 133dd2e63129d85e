"""The oracle contract (:class:`RiskOracle`) and the type every built-in oracle returns.

Callers outside :mod:`particles.oracles` (integrators, observers, polish, certificates)
use only what :class:`RiskOracle` lists; the ``data`` bundle is read by the compiled
loops alone. An oracle that runs elsewhere (another backend) implements the protocol
without subclassing :class:`Oracle`.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .._numba.jit import FastCall
from .._numba.threads import pool_owner
from ..kernels.dispatch import call_velocity, loop


@runtime_checkable
class RiskOracle(Protocol):
    """What callers may use of an oracle.

    Attributes
    ----------
    kind : str
        The registered name (:data:`particles.registry.ORACLES`).
    model : str
        "full" (the network) or "tangent" (its linearisation at theta0).
    m, d : int
        Particles and input dimension: states have shape (m, d + 2).
    dtype : numpy.dtype
        The state dtype.
    alpha : float
        The effective output scale (risk R(alpha f) / alpha^2 conventions).
    activation : str
    bias : bool
    leak : float
        The student network the oracle evaluates.
    pairs : int
        Work per call, (neuron, sample) or (neuron, neuron) pairs.
    streams : dict of str to numpy.random.Generator
        The random streams a call draws from, by name (:data:`particles.registry.STREAMS`);
        empty when the oracle is deterministic. Runs checkpoint them.
    """

    kind: str
    model: str
    m: int
    d: int
    dtype: np.dtype
    alpha: float
    activation: str
    bias: bool
    leak: float
    pairs: int
    streams: dict

    def velocity(self, theta, out=None):
        """``(risk, v)`` with v_i = -m grad_{theta_i} (R / alpha^2).

        Parameters
        ----------
        theta : ndarray, shape (m, d + 2)
        out : ndarray, shape (m, d + 2), optional
            Receives v.

        Returns
        -------
        risk : float
        v : ndarray, shape (m, d + 2)
        """

    def risk(self, theta):
        """The risk R(f) at ``theta``.

        Parameters
        ----------
        theta : ndarray, shape (m, d + 2)

        Returns
        -------
        float
        """

    def check(self, theta, name="theta"):
        """Raise ValueError unless ``theta`` is a state this oracle accepts.

        Parameters
        ----------
        theta : object
        name : str
            The name in the message.
        """

    def sample(self):
        """``(X, y)`` of a fixed-sample oracle, or None."""


class Oracle:
    """Risk and mean-field velocity of one problem for a fixed network shape.

    Parameters
    ----------
    kind : str
        The oracle's registered name ("exact", "sampled", "online", "dataset", ...).
    data : namedtuple
        The oracle's constants and work buffers, of a type registered with
        :func:`particles.kernels.dispatch.register`; this is what compiled loops receive.
    m, d : int
    dtype : numpy dtype
        State dtype.
    gen : numpy.random.Generator, optional
        The random stream the oracle draws from (online oracle), checkpointed by runs.
    pairs : int
        (neuron, sample) or (neuron, neuron) pairs evaluated per call: the size of the
        work, used to choose a thread count (:func:`particles._numba.threads.default_threads`).
    network : dict, optional
        ``activation``, ``bias``, ``alpha``, ``leak`` of the student network.
    sample : tuple of ndarray, optional
        ``(X, y)`` of a fixed-sample oracle (returned by :meth:`sample`).
    stream : str
        The name of the stream ``gen`` is (default "noise", the minibatch draws).

    Notes
    -----
    ``velocity(theta)`` returns the risk R(f) and v_i = -m grad_{theta_i} (R / alpha^2).
    """

    #: "full" (the network) or "tangent" (its linearisation, docs/lazy.md)
    model = "full"

    def __init__(self, kind, data, m, d, dtype, gen=None, pairs=0, *, network=None,
                 sample=None, stream="noise"):
        net = {"activation": "relu", "bias": False, "alpha": 1.0, "leak": 0.01, **(network or {})}
        self.activation = str(net["activation"])
        self.bias = bool(net["bias"])
        self.alpha = float(net["alpha"])
        self.leak = float(net["leak"])
        self._sample = sample
        self.streams = {} if gen is None else {stream: gen}
        self.kind = kind
        self.pairs = int(pairs)
        self.data = data
        self.m = m
        self.d = d
        self.dtype = np.dtype(dtype)
        self.gen = gen
        self._call = FastCall(loop(call_velocity, data))

    def check(self, theta, name="theta"):
        """Raise ValueError unless ``theta`` is a writeable C-contiguous (m, d + 2) array
        of the oracle's dtype (what the compiled kernels require).

        Parameters
        ----------
        theta : object
        name : str
            The name in the message.
        """
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
            R(f) >= 0 (a closed form's rounding below 0 is clipped at 0).
        velocity : ndarray, shape (m, d + 2)
        """
        self.check(theta)
        if out is None:
            out = np.empty_like(theta)
        self.check(out, "out")
        with pool_owner():
            risk = float(self._call(theta, self.data, out))
        # a closed-form risk is a sum of terms that cancel at a global minimum: rounding
        # can leave -1e-16 there; a risk is never negative (NaN stays NaN)
        return (0.0 if risk < 0 else risk), out

    def risk(self, theta):
        """Risk R(f) at ``theta`` (computes and discards the velocity).

        Parameters
        ----------
        theta : ndarray, shape (m, d + 2)

        Returns
        -------
        float
        """
        return self.velocity(theta)[0]

    def sample(self):
        """``(X, y)`` of a fixed-sample oracle ("sampled", "dataset"), else None."""
        return self._sample

    def __repr__(self):
        return f"<{self.kind} oracle, m={self.m}, d={self.d}, {self.dtype}>"


def check_problem(problem, want="teacher-student"):
    """TypeError naming ``problem`` when it is not a :class:`~particles.model.problems.Problem`
    (what the network oracles take).

    Parameters
    ----------
    problem : object
    want : str
        The kind named in the message.

    Returns
    -------
    particles.Problem
        ``problem``.
    """
    from ..model.problems import Problem

    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a particles Problem (a {want} problem: "
                        f"particles.teacher_student(...) or particles.dataset(...)), got "
                        f"{problem!r} ({type(problem).__name__})")
    return problem


def check_oracle(oracle):
    """TypeError naming ``oracle`` when it has not the oracle's interface (the
    ``velocity`` and ``check`` methods, ``m``, ``d`` and ``dtype``; an object of the
    caller's own with them is accepted, as :class:`RiskOracle` allows).

    Parameters
    ----------
    oracle : object

    Returns
    -------
    object
        ``oracle``.
    """
    if not all(hasattr(oracle, k) for k in ("velocity", "check", "m", "d", "dtype")):
        raise TypeError(f"oracle must be a particles oracle (particles.exact_oracle, "
                        f"sample_oracle, online_oracle or deconvolution_oracle), got "
                        f"{oracle!r} ({type(oracle).__name__})")
    return oracle
