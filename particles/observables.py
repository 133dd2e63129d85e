"""What a run records besides the particles: risk, gradient norm, distance travelled,
conservation-law drift and test risk.

The invariants Q_i = c_i^2/lr_c - |a_i|^2/lr_a - b_i^2/lr_b are conserved by the flow of
a positively homogeneous activation (relu, leaky_relu) without weight decay (see
docs/theory.md, "Invariants"); their drift measures the time-discretisation error.
"""
from __future__ import annotations

import numpy as np

from ._jit import FastCall, jit
from .activations import HOMOGENEOUS
from .state import rate_columns


def invariants(theta, lr):
    """Per-neuron Q_i = c^2/lr_c - |a|^2/lr_a - b^2/lr_b.

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
    lr : sequence of 3 floats
        Per-layer rates (c, a, b); a zero rate (frozen layer) drops its term.

    Returns
    -------
    ndarray, shape (m,)
    """
    t = np.asarray(theta, dtype=np.float64)
    return _signed_weights(rate_columns(lr, t.shape[1] - 2)) @ (t * t).T


def _signed_weights(lrc):
    # +1/lr_c for c, -1/lr for the other columns; 0 for frozen columns
    w = np.zeros_like(lrc)
    np.divide(1.0, lrc, out=w, where=lrc > 0)
    w[1:] *= -1.0
    return w


@jit
def _summaries(theta, v, theta0, q0, qw, wd, with_v, out):
    # out = ((1/m) sum |v_i - wd theta_i|^2, sqrt((1/m) sum |theta_i - theta0_i|^2),
    #        max_i |Q_i - Q_i(0)|), with Q_i = sum_q qw[q] theta_iq^2
    m, k = theta.shape
    g2 = 0.0
    dist = 0.0
    drift = 0.0
    for i in range(m):
        q = 0.0
        for j in range(k):
            x = theta[i, j]
            if with_v:
                g = v[i, j] - wd * x
                g2 += g * g
            e = x - theta0[i, j]
            dist += e * e
            q += qw[j] * x * x
        drift = max(drift, abs(q - q0[i]))
    out[0] = g2 / m
    out[1] = np.sqrt(dist / m)
    out[2] = drift


class Observer:
    """Computes a run's observables at a state; draws no random numbers.

    Parameters
    ----------
    integrator : object with ``oracle`` and ``evaluate(state)``
        The run's integrator; its oracle gives the risk unless it is stochastic.
    test : Oracle or None
        A deterministic second oracle (exact risk, monitor sample or test set).
    theta0 : ndarray, shape (m, d + 2)
        Initial particles (distance travelled and invariant drift are measured from it).
    lr : sequence of 3 floats
    weight_decay : float
    activation : str
        The student's activation (invariants are recorded for homogeneous ones).
    kernel : callable, optional
        ``kernel(theta) -> K``: the tangent kernel on a fixed probe set; its relative
        drift from theta0 is recorded as "kernel_drift".

    Attributes
    ----------
    names : list of str
        "risk", "grad_norm2" (when a deterministic risk exists), "test_risk" (when
        ``test`` is a second oracle), "distance", "invariant_drift" (homogeneous
        activations), "kernel_drift" (with ``kernel``), "batch_loss" (stochastic
        oracle: the mean of the minibatch losses of the steps since the previous record,
        NaN at step 0).
    """

    def __init__(self, integrator, test, theta0, lr, weight_decay, activation, kernel=None):
        self.integrator = integrator
        train = integrator.oracle
        # a stochastic oracle (fresh samples per call) would change the run if
        # evaluated for a record: the deterministic test oracle reports the risk then
        self.monitor = test if train.gen is not None else train
        self.test = test if test is not self.monitor else None
        self.theta0 = np.ascontiguousarray(theta0)
        self._qw = _signed_weights(rate_columns(lr, theta0.shape[1] - 2))
        self._q0 = invariants(theta0, lr)
        self._wd = float(weight_decay)
        self.homogeneous = activation in HOMOGENEOUS
        self._stats = np.zeros(3)
        self._v = np.zeros_like(self.theta0)
        self._summaries = FastCall(_summaries)
        self._kernel = kernel
        if kernel is not None:
            self._k0 = kernel(self.theta0)
            self._k0_norm = float(np.linalg.norm(self._k0))
        self.names = ((["risk", "grad_norm2"] if self.monitor is not None else [])
                      + (["test_risk"] if self.test is not None else []) + ["distance"]
                      + (["invariant_drift"] if self.homogeneous else [])
                      + (["kernel_drift"] if kernel is not None else [])
                      + (["batch_loss"] if train.gen is not None else []))

    def observe(self, state):
        """Observables at ``state`` (dict name -> float).

        When the risk comes from the integrator's own oracle the velocity is computed
        by ``integrator.evaluate``, which the next step reuses.
        """
        theta = state.theta
        out = {}
        mon, stats = self.monitor, self._stats
        if mon is not None:
            if mon is self.integrator.oracle:
                r, v = self.integrator.evaluate(state)
            else:
                r, v = mon.velocity(theta, self._v)
            self._summaries(theta, v, self.theta0, self._q0, self._qw, self._wd, True, stats)
            out["risk"] = r
            out["grad_norm2"] = float(stats[0])
        else:
            self._summaries(theta, self._v, self.theta0, self._q0, self._qw, self._wd, False,
                            stats)
        if self.test is not None:
            out["test_risk"] = self.test.risk(theta)
        out["distance"] = float(stats[1])
        if self.homogeneous:
            out["invariant_drift"] = float(stats[2])
        if self._kernel is not None:
            diff = float(np.linalg.norm(self._kernel(theta) - self._k0))
            out["kernel_drift"] = diff / self._k0_norm if self._k0_norm > 0 else (
                0.0 if diff == 0 else float("inf"))
        if "batch_loss" in self.names:
            # the window's sums live in state.solver, so checkpoints carry them; the last
            # value is kept too, for a record repeated after a resume
            solver = state.solver
            n = solver.get("loss_n", 0)
            if n:
                value = solver["loss_sum"] / n
                solver.update(loss_sum=0.0, loss_n=0, loss_last=value,
                              loss_last_step=state.step)  # a new window starts here
            elif solver.get("loss_last_step") == state.step:
                value = solver["loss_last"]
            else:
                value = float("nan")
            out["batch_loss"] = value
        return out
