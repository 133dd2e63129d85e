"""The state of a run, and the column layout of the particles.

Particles are one C-contiguous array ``theta`` of shape (m, d + 2) with columns
``c | a_1 .. a_d | b``: output weight, input weights, bias. A bias-free model keeps
the b column at zero. The helpers below name those columns once::

    theta[:, C]        # c, shape (m,)
    theta[:, A(d)]     # a, shape (m, d)
    theta[:, B(d)]     # b, shape (m,)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: column of the output weight c
C = 0


def A(d):
    """Slice of the input-weight columns a_1..a_d."""
    return slice(1, d + 1)


def B(d):
    """Column of the bias b."""
    return d + 1


def layer_of_column(q, d):
    """Layer index (0: c, 1: a, 2: b) of column ``q``; indexes per-layer rates (c, a, b)."""
    return 0 if q == 0 else (2 if q == d + 1 else 1)


def rate_columns(lr, d):
    """Per-column rates from per-layer rates.

    Parameters
    ----------
    lr : sequence of 3 floats
        (lr_c, lr_a, lr_b).
    d : int
        Input dimension.

    Returns
    -------
    ndarray, shape (d + 2,)
    """
    return np.array([lr[layer_of_column(q, d)] for q in range(d + 2)], dtype=np.float64)


def trained_columns(lr, d, bias):
    """Which columns move, shape (d + 2,), bool: a layer with rate > 0, and the bias
    column only for a model with biases (an untrained bias stays at 0).

    Parameters
    ----------
    lr : sequence of 3 floats
    d : int
    bias : bool

    Returns
    -------
    ndarray of bool, shape (d + 2,)
    """
    cols = rate_columns(lr, d) > 0
    if not bias:
        cols[d + 1] = False
    return cols


def check_checkpoint(checkpoint, *, streams=(), dt=None, shape=None):
    """Raise ValueError unless a stored checkpoint is complete and consistent.

    Parameters
    ----------
    checkpoint : dict
        As :meth:`State.checkpoint` writes it (``theta`` included).
    streams : sequence of str
        The random streams the run draws from: each needs a well-formed state.
    dt : float, optional
        The run's step: the checkpoint's time must be ``step * dt``.
    shape : tuple, optional
        The particles' shape (m, d + 2).

    Notes
    -----
    Checked: a step that is an integer >= 0; a finite time equal to step x dt (to
    1e-9 relative); finite particles of the run's shape; the state of every stream the
    run draws from. A resumed run would otherwise continue from a state that is not the
    run's (silently, for a stream drawn afresh).
    """
    import math

    from .rng import check_state

    step = checkpoint.get("step")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"the checkpoint's step={step!r} is invalid; allowed: an integer "
                         ">= 0")
    time = checkpoint.get("time")
    if isinstance(time, bool) or not isinstance(time, (int, float, np.number)) \
            or not math.isfinite(time):
        raise ValueError(f"the checkpoint's time={time!r} is invalid; allowed: a finite "
                         "number")
    if dt is not None and abs(time - step * dt) > 1e-9 * max(1.0, abs(time)):
        raise ValueError(f"the checkpoint's time={time!r} is invalid: its step {step} x dt "
                         f"{dt:g} = {step * dt:.12g}; allowed: the time of its step")
    theta = checkpoint.get("theta")
    if theta is not None:
        theta = np.asarray(theta)
        if shape is not None and theta.shape != tuple(shape):
            raise ValueError(f"the checkpoint's particles have shape {theta.shape}; allowed: "
                             f"{tuple(shape)}")
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"the checkpoint's particles hold NaN or Inf at step {step}; "
                             "allowed: finite particles (the run diverged or the file is "
                             "damaged)")
    stored = checkpoint.get("streams") or {}
    for name in streams:
        st = stored.get(name) if isinstance(stored, dict) else None
        if st is None:
            raise ValueError(f"the checkpoint lacks the state of the random stream {name!r} "
                             "that the run draws from; resuming would not continue the same "
                             "run")
        try:
            check_state(st)
        except ValueError as exc:
            raise ValueError(f"the checkpoint's state of the random stream {name!r} is "
                             f"malformed ({exc}); resuming would not continue the same "
                             "run") from None


#: accumulators that files of version 0.2 stored among the solver's data
_RECORD_KEYS = ("loss_sum", "loss_n", "loss_last", "loss_last_step")


@dataclass
class State:
    """Where a run stands: particles, step, mean-field time and its random streams.

    Attributes
    ----------
    theta : ndarray, shape (m, d + 2)
        Particles (c | a | b), C-contiguous, in the run's dtype; integrators update it
        in place.
    step : int
        Steps taken (nominal steps ``time / dt`` for the accuracy-controlled methods).
    time : float
        Mean-field time.
    streams : dict of str -> numpy.random.Generator
        Random streams that the dynamics draw from (e.g. "noise" for online SGD);
        their states are checkpointed so a resumed run draws the same numbers.
    solver : dict
        The integrator's own resumable state (e.g. the proposed step "h" of an
        adaptive method), JSON-serialisable.
    records : dict
        The observers' resumable accumulators between two records (the running sums
        of the minibatch losses behind "batch_loss"), JSON-serialisable.
    """

    theta: np.ndarray
    step: int = 0
    time: float = 0.0
    streams: dict = field(default_factory=dict)
    solver: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)

    def __post_init__(self):
        theta = self.theta
        if not isinstance(theta, np.ndarray) or theta.ndim != 2 or theta.shape[0] < 1 \
                or theta.shape[1] < 3 or theta.dtype not in (np.float64, np.float32):
            shape = getattr(theta, "shape", None)
            dtype = getattr(theta, "dtype", type(theta).__name__)
            raise ValueError(f"theta (shape {shape}, {dtype}) is invalid; allowed: a float64 "
                             "or float32 array of shape (m, d + 2), m >= 1, d >= 1")

    @property
    def m(self):
        return self.theta.shape[0]

    @property
    def d(self):
        return self.theta.shape[1] - 2

    @property
    def c(self):
        """Output weights, shape (m,) (a view)."""
        return self.theta[:, C]

    @property
    def a(self):
        """Input weights, shape (m, d) (a view)."""
        return self.theta[:, A(self.d)]

    @property
    def b(self):
        """Biases, shape (m,) (a view)."""
        return self.theta[:, B(self.d)]

    def checkpoint(self, status):
        """A copy that can be stored: JSON-friendly dict plus ``theta`` (a copy).

        Parameters
        ----------
        status : str
            The run's status at this state ("running", "complete", ...).

        Returns
        -------
        dict
        """
        from .rng import get_state

        out = {"step": int(self.step), "time": float(self.time),
               "theta": np.array(self.theta, copy=True), "status": status}
        if self.streams:
            out["streams"] = {k: get_state(g) for k, g in self.streams.items()}
        if self.solver:
            out["solver"] = dict(self.solver)
        if self.records:
            out["records"] = dict(self.records)
        return out

    def restore(self, checkpoint):
        """Take step, time, stream states and solver state from a stored checkpoint.

        ``theta`` is copied in place (same shape and dtype as this state's).

        Parameters
        ----------
        checkpoint : dict
            As :meth:`checkpoint` made it (read back from a run file).
        """
        from .rng import set_state

        self.theta[...] = np.asarray(checkpoint["theta"], dtype=self.theta.dtype)
        self.step = int(checkpoint.get("step", 0))
        self.time = float(checkpoint.get("time", 0.0))
        streams = dict(checkpoint.get("streams") or {})
        if "rng_state" in checkpoint and "noise" in self.streams:  # files of version 0.1
            streams.setdefault("noise", checkpoint["rng_state"])
        for name, st in streams.items():
            if name in self.streams and st is not None:
                set_state(self.streams[name], st)
        solver = dict(checkpoint.get("solver") or {})
        if "h" in checkpoint:  # files of version 0.1
            solver.setdefault("h", checkpoint["h"])
        records = dict(checkpoint.get("records") or {})
        for key in _RECORD_KEYS:  # files of version 0.2 kept these in "solver"
            if key in solver:
                records.setdefault(key, solver.pop(key))
        self.solver = {k: v for k, v in solver.items() if v is not None}
        self.records = {k: v for k, v in records.items() if v is not None}
