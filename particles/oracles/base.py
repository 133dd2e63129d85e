"""The oracle type every risk oracle returns."""
from __future__ import annotations

import numpy as np

from .._jit import FastCall
from .._threads import pool_owner
from ..kernels.dispatch import call_velocity, loop


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
        work, used to choose a thread count (:func:`particles._threads.default_threads`).

    Notes
    -----
    ``velocity(theta)`` returns the risk R(f) and v_i = -m grad_{theta_i} (R / alpha^2).
    """

    #: "full" (the network) or "tangent" (its linearisation, docs/lazy.md)
    model = "full"

    def __init__(self, kind, data, m, d, dtype, gen=None, pairs=0):
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
        of the oracle's dtype (what the compiled kernels require)."""
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
        self.check(theta)
        if out is None:
            out = np.empty_like(theta)
        self.check(out, "out")
        with pool_owner():
            risk = self._call(theta, self.data, out)
        return float(risk), out

    def risk(self, theta):
        """Risk R(f) at ``theta`` (computes and discards the velocity)."""
        return self.velocity(theta)[0]

    def __repr__(self):
        return f"<{self.kind} oracle, m={self.m}, d={self.d}, {self.dtype}>"
