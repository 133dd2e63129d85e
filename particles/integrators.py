"""Time integrators in mean-field time.

Fixed step (compiled, many steps per call, no allocation per step):

* ``euler``: theta <- theta + dt V(theta) (gradient descent; first order);
* ``heun``: theta <- theta + dt/2 (V(theta) + V(theta + dt V(theta))) (second order);
* ``sgd``: Euler on the online oracle (a fresh batch per step).

V is the oracle's velocity times the per-layer learning-rate multipliers, minus
weight decay: V_i = lr * (v_i - lambda theta_i).

Accuracy controlled: SciPy's ``RK45``, ``DOP853``, ``LSODA`` and ``BDF`` driven step by
step with the same compiled velocity (:class:`OdeDriver`). The integration restarts
at every recorded time from the recorded state and the solver's proposed step, so a
run resumed from a checkpoint retraces the uninterrupted run exactly.
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import FastCall, jit
from ._threads import pool_owner
from .kernels.dispatch import velocity

RUNNING, STOPPED_RISK, STOPPED_GRAD, DIVERGED = 0, 1, 2, 3
STATUS_NAMES = {RUNNING: "running", STOPPED_RISK: "stopped: risk threshold reached",
                STOPPED_GRAD: "stopped: gradient threshold reached", DIVERGED: "diverged"}


@jit
def _adjust(theta, v, lr, wd):
    # v <- lr * (v - wd * theta); returns (1/m) sum_i |v_i - wd theta_i|^2 and finiteness
    m, k = theta.shape
    d = k - 2
    g2 = 0.0
    for i in range(m):
        for q in range(k):
            x = v[i, q] - wd * theta[i, q]
            g2 += x * x
            lrq = lr[0] if q == 0 else (lr[2] if q == d + 1 else lr[1])
            v[i, q] = lrq * x
    return g2 / m


@jit
def _axpy(theta, dt, v):
    # theta += dt * v without a temporary array
    for i in range(theta.shape[0]):
        for q in range(theta.shape[1]):
            theta[i, q] += dt * v[i, q]


@jit
def _check_stop(risk, g2, stop_risk, stop_grad):
    if not (math.isfinite(risk) and math.isfinite(g2)):
        return DIVERGED
    if risk <= stop_risk:
        return STOPPED_RISK
    if g2 <= stop_grad:
        return STOPPED_GRAD
    return RUNNING


@jit
def euler_steps(theta, data, v, lr, wd, dt, nsteps, stop_risk, stop_grad, reuse, risk_in,
                stats):
    """Advance ``theta`` in place by up to ``nsteps`` Euler steps.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
        State, updated in place.
    data : particles.risk.OracleData
        The oracle (see :func:`particles.kernels.dispatch.velocity`).
    v : ndarray, shape (m, d + 2)
        Velocity buffer.
    lr : ndarray, shape (3,)
        Learning-rate multipliers (c, a, b), in the state dtype.
    wd, dt : float
        Weight decay and step, in the state dtype.
    nsteps : int
    stop_risk, stop_grad : float
        Stop (before stepping) when the risk or (1/m) sum |v_i|^2 is at or below.
    reuse : bool
        ``v`` already holds the oracle's velocity at ``theta`` and ``risk_in`` its
        risk (computed for a record): the first step does not recompute them.
    risk_in : float
    stats : ndarray, shape (4,), float64
        Receives (steps done, risk before the last step, its grad norm^2, status).
    """
    risk = np.nan
    g2 = np.nan
    status = RUNNING
    k = 0
    while k < nsteps:
        if k == 0 and reuse:
            risk = risk_in
        else:
            risk = velocity(theta, data, v)
        g2 = _adjust(theta, v, lr, wd)
        status = _check_stop(risk, g2, stop_risk, stop_grad)
        if status != RUNNING:
            break
        _axpy(theta, dt, v)
        k += 1
    stats[0] = k
    stats[1] = risk
    stats[2] = g2
    stats[3] = status


@jit
def heun_steps(theta, data, v, v2, tmp, lr, wd, dt, nsteps, stop_risk, stop_grad, reuse,
               risk_in, stats):
    """Advance ``theta`` in place by up to ``nsteps`` Heun steps (explicit trapezoid).

    Same arguments as :func:`euler_steps`, plus two more (m, d + 2) buffers ``v2``
    and ``tmp``.
    """
    risk = np.nan
    g2 = np.nan
    status = RUNNING
    k = 0
    half = dt * 0.5
    while k < nsteps:
        if k == 0 and reuse:
            risk = risk_in
        else:
            risk = velocity(theta, data, v)
        g2 = _adjust(theta, v, lr, wd)
        status = _check_stop(risk, g2, stop_risk, stop_grad)
        if status != RUNNING:
            break
        for i in range(theta.shape[0]):
            for q in range(theta.shape[1]):
                tmp[i, q] = theta[i, q] + dt * v[i, q]
        r2 = velocity(tmp, data, v2)
        g22 = _adjust(tmp, v2, lr, wd)
        if not (math.isfinite(r2) and math.isfinite(g22)):
            status = DIVERGED
            break
        for i in range(theta.shape[0]):
            for q in range(theta.shape[1]):
                theta[i, q] += half * (v[i, q] + v2[i, q])
        k += 1
    stats[0] = k
    stats[1] = risk
    stats[2] = g2
    stats[3] = status


class FixedStep:
    """Compiled fixed-step integrator bound to an oracle.

    Parameters
    ----------
    method : {"euler", "heun", "sgd"}
    oracle : particles.risk.Oracle
    dt : float
    lr : tuple of 3 floats
        Learning-rate multipliers (c, a, b).
    weight_decay : float
    stop_risk, stop_grad : float or None
    """

    def __init__(self, method, oracle, dt, lr=(1.0, 1.0, 1.0), weight_decay=0.0,
                 stop_risk=None, stop_grad=None):
        if method not in ("euler", "heun", "sgd"):
            raise ValueError(f"method={method!r} is not a fixed-step method; allowed: "
                             "'euler', 'heun', 'sgd'")
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt={dt!r} is invalid; allowed: a finite number > 0")
        self.method = method
        self.oracle = oracle
        dtype = oracle.dtype.type
        self.dt = dtype(dt)
        self.lr = np.asarray(lr, dtype=oracle.dtype)
        self.wd = dtype(weight_decay)
        self.stop_risk = -np.inf if stop_risk is None else float(stop_risk)
        self.stop_grad = -np.inf if stop_grad is None else float(stop_grad)
        shape = (oracle.m, oracle.d + 2)
        self.v = np.zeros(shape, oracle.dtype)
        self.v2 = np.zeros(shape, oracle.dtype)
        self.tmp = np.zeros(shape, oracle.dtype)
        self.stats = np.zeros(4)
        self._euler = FastCall(euler_steps)
        self._heun = FastCall(heun_steps)
        self._reuse = None

    def prime(self, risk):
        """Declare that ``self.v`` holds the oracle's raw velocity at the current state
        and ``risk`` its risk (computed for a record): the next step reuses them."""
        self._reuse = float(risk)

    def advance(self, theta, nsteps):
        """Run up to ``nsteps`` steps in place.

        Returns
        -------
        steps : int
            Steps actually taken (fewer if a stop condition fired).
        risk, grad2 : float
            Risk and squared velocity norm before the last step attempted.
        status : int
            RUNNING, STOPPED_RISK, STOPPED_GRAD or DIVERGED.
        """
        o = self.oracle
        o._check(theta)
        reuse = self._reuse is not None
        risk_in = self._reuse if reuse else 0.0
        self._reuse = None
        with pool_owner(o.owner):
            if self.method == "heun":
                self._heun(theta, o.data, self.v, self.v2, self.tmp, self.lr, self.wd, self.dt,
                           nsteps, self.stop_risk, self.stop_grad, reuse, risk_in, self.stats)
            else:
                self._euler(theta, o.data, self.v, self.lr, self.wd, self.dt, nsteps,
                            self.stop_risk, self.stop_grad, reuse, risk_in, self.stats)
        s = self.stats
        return int(s[0]), float(s[1]), float(s[2]), int(s[3])


class OdeDriver:
    """Accuracy-controlled integration with a SciPy ``OdeSolver``.

    Parameters
    ----------
    method : {"rk45", "dop853", "lsoda", "bdf"}
    oracle : particles.risk.Oracle
    rtol, atol : float
    first_step : float or None
        Initial step proposal.
    lr, weight_decay, stop_risk, stop_grad
        As for :class:`FixedStep`.

    Notes
    -----
    Near a minimum the flow is stiff and explicit methods crawl; LSODA and BDF use a
    finite-difference Jacobian of the compiled velocity. The state is integrated in
    float64 whatever the oracle's dtype.
    """

    _CLASSES = {"rk45": "RK45", "dop853": "DOP853", "lsoda": "LSODA", "bdf": "BDF"}

    def __init__(self, method, oracle, rtol=1e-8, atol=1e-10, first_step=None,
                 lr=(1.0, 1.0, 1.0), weight_decay=0.0, stop_risk=None, stop_grad=None):
        import scipy.integrate

        if method not in self._CLASSES:
            raise ValueError(f"method={method!r} is invalid; allowed: "
                             f"{', '.join(self._CLASSES)}")
        self.method = method
        self.solver_class = getattr(scipy.integrate, self._CLASSES[method])
        self.oracle = oracle
        self.rtol = rtol
        self.atol = atol
        self.h = first_step
        self.lr = np.asarray(lr, dtype=oracle.dtype)
        self.wd = oracle.dtype.type(weight_decay)
        self.stop_risk = -np.inf if stop_risk is None else float(stop_risk)
        self.stop_grad = -np.inf if stop_grad is None else float(stop_grad)
        self.shape = (oracle.m, oracle.d + 2)
        self._theta = np.zeros(self.shape, oracle.dtype)
        self._v = np.zeros(self.shape, oracle.dtype)
        self._call = FastCall(velocity)
        self.nfev = 0

    def _rhs(self, t, y):
        self._theta[:] = y.reshape(self.shape)
        o = self.oracle
        self._call(self._theta, o.data, self._v)
        _adjust(self._theta, self._v, self.lr, self.wd)
        self.nfev += 1
        return self._v.astype(np.float64).ravel()

    def status(self, theta):
        """(risk, grad2, status) at ``theta`` without moving it."""
        o = self.oracle
        o._check(theta)
        with pool_owner(o.owner):
            risk = self._call(theta, o.data, self._v)
        g2 = _adjust(theta, self._v, self.lr, self.wd)
        return float(risk), float(g2), int(_check_stop(risk, g2, self.stop_risk,
                                                       self.stop_grad))

    def advance(self, theta, t0, t1):
        """Integrate in place from time t0 to t1 (a fresh solver, first step self.h)."""
        y0 = theta.astype(np.float64).ravel()
        kw = {}
        if self.h is not None and self.h > 0:
            kw["first_step"] = min(self.h, t1 - t0)
        solver = self.solver_class(self._rhs, t0, y0, t1, rtol=self.rtol, atol=self.atol,
                                   **kw)
        with pool_owner(self.oracle.owner):
            self._loop(solver)
        h = getattr(solver, "h_abs", None)
        if h is not None and math.isfinite(h) and h > 0:
            self.h = float(h)
        theta[:] = solver.y.reshape(self.shape)

    def _loop(self, solver):
        while solver.status == "running":
            msg = solver.step()
            if solver.status == "failed":
                raise FloatingPointError(f"{self.method} failed at t = {solver.t:.6g}: {msg}")
            if not np.all(np.isfinite(solver.y)):
                raise FloatingPointError(f"{self.method} produced NaN/Inf at t = {solver.t:.6g}")
