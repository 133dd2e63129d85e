"""Time integrators in mean-field time, behind one protocol.

Every integrator is bound to an oracle and offers (:class:`Integrator`)::

    evaluate(state) -> (risk, v)       # oracle velocity at state.theta (no move)
    advance(state, n_steps) -> Report  # move the state by up to n_steps nominal steps
    streams() -> tuple of str          # the random streams advance draws from
    whole_intervals                    # True: advance must cover whole record intervals

Integrators are found by method name through :data:`particles.registry.METHODS`
(``"module:factory"``, ``factory(config, oracle)``): a new method is a class here or
in a module of its own, and one line there.

``advance`` updates ``state.theta`` in place and ``state.step``/``state.time``, keeps
its own resumable data in ``state.solver`` and stops early on a threshold or on
divergence (``Report.status``).

Fixed step (compiled, many steps per call, no allocation per step):

* ``euler``: theta <- theta + dt V(theta) (gradient descent; first order);
* ``heun``: theta <- theta + dt/2 (V(theta) + V(theta + dt V(theta))) (second order);
* ``sgd``: Euler on the online oracle (a fresh batch per step).

At a temperature T > 0 (``euler`` and ``sgd``) a step is Euler-Maruyama for the
mean-field Langevin dynamics, theta <- theta + dt V(theta) + sqrt(2 T(t) lr dt) xi, with
standard normals xi drawn inside the compiled loop from the stream "diffusion"
(weak order 1; docs/langevin.md).

V is the oracle's velocity times the per-layer learning-rate multipliers, minus
weight decay: V_i = lr * (v_i - lambda theta_i).

Accuracy controlled: SciPy's ``RK45``, ``DOP853``, ``LSODA`` and ``BDF`` driven step by
step with the same compiled velocity (:class:`OdeDriver`). The integration restarts
at every call from the given state and the solver's last proposed step (kept in
``state.solver["h"]``), so a run resumed from a checkpoint retraces the uninterrupted
run exactly.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Protocol

import numpy as np

from .._numba.jit import FastCall, jit
from .._numba.threads import pool_owner
from ..kernels.dispatch import loop, velocity
from ..model.state import rate_columns, trained_columns

class Integrator(Protocol):
    """What the simulation uses of an integrator (see the module docstring)."""

    oracle: object
    whole_intervals: bool

    def evaluate(self, state):
        """``(risk, v)`` at ``state.theta``; the state does not move.

        Parameters
        ----------
        state : particles.State

        Returns
        -------
        risk : float
        v : ndarray, shape (m, d + 2)
        """

    def advance(self, state, n_steps):
        """Move ``state`` in place by up to ``n_steps`` steps.

        Parameters
        ----------
        state : particles.State
        n_steps : int

        Returns
        -------
        Report
            The steps done, the status and the sums the observables need.
        """

    def streams(self):
        """Names of the random streams :meth:`advance` draws from."""

    def generators(self):  # the state's streams; integrators without one use the oracle's
        """Those streams by name (name -> ``numpy.random.Generator``)."""


RUNNING, STOPPED_RISK, STOPPED_GRAD, DIVERGED = 0, 1, 2, 3
STATUS_NAMES = {RUNNING: "running", STOPPED_RISK: "stopped: risk threshold reached",
                STOPPED_GRAD: "stopped: gradient threshold reached", DIVERGED: "diverged"}

#: what ``advance`` returns: steps taken, risk and (1/m) sum |v_i|^2 before the last
#: step attempted, the status code (RUNNING, STOPPED_RISK, STOPPED_GRAD, DIVERGED), and
#: the call's sums for the records: ``loss_sum`` over the ``loss_n`` minibatch losses
#: of a stochastic oracle (0 and 0 otherwise)
Report = namedtuple("Report", "steps risk grad2 status loss_sum loss_n", defaults=(0.0, 0))


@jit
def _adjust(theta, v, lrc, wd):
    # v <- lr * (v - wd * theta) column by column; returns (1/m) sum_i |v_i - wd theta_i|^2
    m, k = theta.shape
    g2 = 0.0
    for i in range(m):
        for q in range(k):
            x = v[i, q] - wd * theta[i, q]
            g2 += x * x
            v[i, q] = lrc[q] * x
    return g2 / m


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
def fixed_steps(theta, data, v, v2, tmp, lrc, wd, dt, nsteps, heun, stop_risk, stop_grad,
                reuse, risk_in, stats, gen, noise_sd, temp, log_schedule, step0, clock):
    """Advance ``theta`` in place by up to ``nsteps`` Euler, Heun or Euler-Maruyama steps.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
        State, updated in place.
    data : namedtuple
        The oracle's data (see :mod:`particles.kernels.dispatch`).
    v, v2, tmp : ndarray, shape (m, d + 2)
        Work buffers; ``v`` receives the last velocity evaluated at ``theta``.
    lrc : ndarray, shape (d + 2,)
        Learning-rate multiplier of every column, in the state dtype.
    wd, dt : float
        Weight decay and step, in the state dtype.
    nsteps : int
    heun : bool
        Heun (explicit trapezoid) instead of Euler.
    stop_risk, stop_grad : float
        Stop (before stepping) when the risk or (1/m) sum |v_i|^2 is at or below.
    reuse : bool
        ``v`` already holds the oracle's velocity at ``theta`` and ``risk_in`` its
        risk (computed for a record): the first step does not recompute them.
    risk_in : float
    stats : ndarray, shape (5,), float64
        Receives (steps done, risk before the last step, its grad norm^2, status, sum of
        the risks at which the steps were taken).
    gen : numpy.random.Generator
        The stream "diffusion" (drawn from only when ``temp > 0``).
    noise_sd : ndarray, shape (d + 2,), float64
        sqrt(2 lr) for every column that moves, 0 for frozen ones.
    temp : float
        Temperature T >= 0; 0 is the noiseless flow (the same arithmetic as without
        noise, bit for bit).
    log_schedule : bool
        T(t) = temp / log(e + t) instead of the constant temp.
    step0 : int
        Step count of ``theta`` (the time of step k is (step0 + k) * clock).
    clock : float
        The step in float64 (times are step * clock whatever the dtype).

    Notes
    -----
    With ``temp > 0`` a step is theta <- theta + dt V(theta) + sqrt(T(t_k) dt) noise_sd xi
    with xi standard normals drawn in row-major order (particle by particle, column by
    column, frozen columns skipped), so the draws do not depend on the thread count.
    """
    risk = np.nan
    g2 = np.nan
    status = RUNNING
    k = 0
    rsum = 0.0
    half = dt * 0.5
    m, c = theta.shape
    while k < nsteps:
        if k == 0 and reuse:
            risk = risk_in
        else:
            risk = velocity(theta, data, v)
        g2 = _adjust(theta, v, lrc, wd)
        status = _check_stop(risk, g2, stop_risk, stop_grad)
        if status != RUNNING:
            break
        rsum += risk
        if heun:
            for i in range(m):
                for q in range(c):
                    tmp[i, q] = theta[i, q] + dt * v[i, q]
            r2 = velocity(tmp, data, v2)
            g22 = _adjust(tmp, v2, lrc, wd)
            if not (math.isfinite(r2) and math.isfinite(g22)):
                status = DIVERGED
                break
            for i in range(m):
                for q in range(c):
                    theta[i, q] += half * (v[i, q] + v2[i, q])
        elif temp > 0:
            t_k = temp
            if log_schedule:
                t_k = temp / math.log(math.e + (step0 + k) * clock)
            s = math.sqrt(t_k * clock)
            for i in range(m):
                for q in range(c):
                    sd = noise_sd[q]
                    if sd > 0:
                        theta[i, q] += dt * v[i, q] + s * sd * gen.standard_normal()
                    else:
                        theta[i, q] += dt * v[i, q]
        else:
            for i in range(m):
                for q in range(c):
                    theta[i, q] += dt * v[i, q]
        k += 1
    stats[0] = k
    stats[1] = risk
    stats[2] = g2
    stats[3] = status
    stats[4] = rsum


def check_temperature(temperature):
    """ValueError naming ``temperature`` unless it is a finite number >= 0.

    Parameters
    ----------
    temperature : float

    Returns
    -------
    float
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature={temperature!r} is invalid; allowed: a finite number "
                         ">= 0")
    return float(temperature)


def temperature_at(t, temperature, schedule="constant"):
    """T(t) of a temperature schedule (:data:`particles.registry.TEMPERATURE_SCHEDULES`).

    Parameters
    ----------
    t : float or ndarray
        Mean-field time(s), >= 0.
    temperature : float
        T >= 0 (the value at t = 0).
    schedule : {"constant", "log"}
        T, or T / log(e + t) (the annealing of Chizat 2022).

    Returns
    -------
    float or ndarray
    """
    check_temperature(temperature)
    tt = np.asarray(t, dtype=np.float64) if not isinstance(t, str) else None
    if tt is None or not np.all(np.isfinite(tt) & (tt >= 0)):
        raise ValueError(f"t={t!r} is invalid; allowed: finite times >= 0")
    if schedule == "constant":
        return np.full(np.shape(t), float(temperature)) if np.ndim(t) else float(temperature)
    if schedule == "log":
        return temperature / np.log(np.e + np.asarray(t, dtype=np.float64)) if np.ndim(t) \
            else float(temperature / math.log(math.e + t))
    raise ValueError(f"temperature_schedule={schedule!r} is invalid; allowed: "
                     "'constant', 'log'")


def noise_columns(lr, d, bias):
    """sqrt(2 lr) of every column that moves, 0 for frozen ones, shape (d + 2,).

    A column moves when its layer's rate is > 0; the bias column also needs a model
    with biases (an untrained bias stays at 0).
    """
    return np.sqrt(2.0 * rate_columns(lr, d) * trained_columns(lr, d, bias))


#: the generator handed to the compiled loop of a noiseless run (never drawn from)
_NO_DIFFUSION = np.random.Generator(np.random.PCG64(0))


def _check_dt(dt):
    if not (isinstance(dt, (int, float, np.number)) and dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt={dt!r} is invalid; allowed: a finite number > 0")


def _rates(lr, weight_decay, stop_risk, stop_grad, d, dtype):
    lr = tuple(lr)
    if len(lr) != 3 or not all(isinstance(x, (int, float, np.number)) and math.isfinite(x)
                               and x >= 0 for x in lr):
        raise ValueError(f"lr={lr!r} is invalid; allowed: three finite numbers >= 0 "
                         "(rates of c, a and b)")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay={weight_decay!r} is invalid; allowed: a finite "
                         "number >= 0")
    return (rate_columns(lr, d).astype(dtype), dtype.type(weight_decay),
            -np.inf if stop_risk is None else float(stop_risk),
            -np.inf if stop_grad is None else float(stop_grad))


class CompiledStep:
    """What the compiled fixed-step integrators share: a velocity kept from a record
    for the next step, one compiled call per ``advance`` inside the thread pool, and the
    :data:`Report` built from the loop's ``stats``.

    A subclass sets ``oracle``, ``v`` (the velocity buffer), ``stats`` (shape (5,)),
    ``_steps`` (the compiled loop), ``_clock`` (the step in float64), ``_fresh = None``,
    and defines ``call_args(state, n_steps, reuse, risk_in)`` and ``generators()``.
    """

    #: ``advance`` may be called for any part of a record interval
    whole_intervals = False

    def evaluate(self, state):
        """Risk and raw oracle velocity at ``state.theta`` (the state does not move).

        The velocity is kept, so the next :meth:`advance` from this very state does not
        compute it again (records cost no extra oracle call).

        Parameters
        ----------
        state : particles.State

        Returns
        -------
        risk : float
        v : ndarray, shape (m, d + 2)
        """
        risk, v = self.oracle.velocity(state.theta, self.v)
        self._fresh = (state.theta, state.step, risk)
        return risk, v

    def advance(self, state, n_steps):
        """Run up to ``n_steps`` steps in place.

        Parameters
        ----------
        state : particles.State
        n_steps : int

        Returns
        -------
        Report
        """
        o = self.oracle
        o.check(state.theta)
        fresh = self._fresh
        reuse = fresh is not None and fresh[0] is state.theta and fresh[1] == state.step
        self._fresh = None
        with pool_owner():
            self._steps(*self.call_args(state, n_steps, reuse, fresh[2] if reuse else 0.0))
        s = self.stats
        state.step += int(s[0])
        state.time = state.step * self._clock
        if o.streams:  # the minibatch losses of this call, for the records
            return Report(int(s[0]), float(s[1]), float(s[2]), int(s[3]), float(s[4]), int(s[0]))
        return Report(int(s[0]), float(s[1]), float(s[2]), int(s[3]))

    def streams(self):
        """Names of the random streams ``advance`` draws from."""
        return tuple(self.generators())


class FixedStep(CompiledStep):
    """Compiled fixed-step integrator bound to an oracle.

    Parameters
    ----------
    method : {"euler", "heun", "sgd"}
    oracle : particles.oracles.base.Oracle
    dt : float
        Step in mean-field time.
    lr : tuple of 3 floats
        Learning-rate multipliers (c, a, b), each >= 0 (0 freezes a layer).
    weight_decay : float
    stop_risk, stop_grad : float or None
        Stop when the risk, or (1/m) sum |v_i|^2, is at or below this value.
    temperature : float
        T >= 0 of the mean-field Langevin dynamics (Euler-Maruyama; "euler" and "sgd"
        only). 0: the noiseless flow.
    temperature_schedule : {"constant", "log"}
        See :func:`temperature_at`.
    diffusion : numpy.random.Generator, optional
        The stream of the Brownian increments (needed when ``temperature > 0``; a run
        uses its stream "diffusion"). Its state advances with each noisy step.
    """

    def __init__(self, method, oracle, dt, lr=(1.0, 1.0, 1.0), weight_decay=0.0,
                 stop_risk=None, stop_grad=None, temperature=0.0,
                 temperature_schedule="constant", diffusion=None):
        if method not in ("euler", "heun", "sgd"):
            raise ValueError(f"method={method!r} is not a fixed-step method; allowed: "
                             "'euler', 'heun', 'sgd'")
        from ..oracles.base import check_oracle

        check_oracle(oracle)
        _check_dt(dt)
        temperature_at(0.0, 0.0, temperature_schedule)  # checks the name
        check_temperature(temperature)
        if temperature > 0 and method == "heun":
            raise ValueError(f"temperature={temperature!r} is invalid with method='heun'; "
                             "allowed: 0 (a temperature > 0 needs 'euler' or 'sgd')")
        if temperature > 0 and not isinstance(diffusion, np.random.Generator):
            raise ValueError(f"diffusion={diffusion!r} is invalid with temperature > 0; "
                             "allowed: a numpy.random.Generator (the Brownian increments' "
                             "stream)")
        self.temperature = float(temperature)
        self.temperature_schedule = temperature_schedule
        self.diffusion = diffusion if self.temperature > 0 else None
        self.method = method
        self.oracle = oracle
        self.dt = oracle.dtype.type(dt)
        self._clock = float(dt)  # times are step * dt in float64, whatever the dtype
        self.lrc, self.wd, self.stop_risk, self.stop_grad = _rates(
            lr, weight_decay, stop_risk, stop_grad, oracle.d, oracle.dtype)
        self.noise_sd = noise_columns(lr, oracle.d, getattr(oracle, "bias", True))
        shape = (oracle.m, oracle.d + 2)
        self.v = np.zeros(shape, oracle.dtype)
        self.v2 = np.zeros(shape, oracle.dtype)
        self.tmp = np.zeros(shape, oracle.dtype)
        self.stats = np.zeros(5)
        self._steps = FastCall(loop(fixed_steps, oracle.data))
        self._fresh = None  # (state, step, risk) when self.v holds the velocity there

    def call_args(self, state, n_steps, reuse=False, risk_in=0.0):
        """The arguments of the compiled loop :func:`fixed_steps` for ``n_steps`` steps
        from ``state`` (what :meth:`advance` passes; benchmarks time the bare call).

        Parameters
        ----------
        state : particles.State
        n_steps : int
        reuse : bool
            Whether the velocity in the work array is that of ``state`` already.
        risk_in : float
            Its risk, when ``reuse``.

        Returns
        -------
        tuple
        """
        return (state.theta, self.oracle.data, self.v, self.v2, self.tmp, self.lrc, self.wd,
                self.dt, int(n_steps), self.method == "heun", self.stop_risk, self.stop_grad,
                reuse, risk_in, self.stats, self.diffusion or _NO_DIFFUSION, self.noise_sd,
                self.temperature, self.temperature_schedule == "log", int(state.step),
                self._clock)

    def generators(self):
        """The random streams ``advance`` draws from: name -> Generator (its oracle's,
        and "diffusion" at a temperature > 0)."""
        gens = dict(self.oracle.streams)
        if self.diffusion is not None:
            gens["diffusion"] = self.diffusion
        return gens


class OdeDriver:
    """Accuracy-controlled integration with a SciPy ``OdeSolver``.

    Parameters
    ----------
    method : {"rk45", "dop853", "lsoda", "bdf"}
    oracle : particles.oracles.base.Oracle
    dt : float
        Nominal step: ``advance(state, n)`` integrates over ``n * dt`` in time and counts
        ``n`` steps (records and resumes are placed on this grid).
    rtol, atol : float
    first_step : float or None
        Initial step proposal (afterwards the solver's last step, ``state.solver["h"]``).
    lr, weight_decay, stop_risk, stop_grad
        As for :class:`FixedStep`.

    Notes
    -----
    Near a minimum the flow is stiff and explicit methods crawl; LSODA and BDF use a
    finite-difference Jacobian of the compiled velocity. The state is integrated in
    float64 whatever the oracle's dtype.
    """

    _CLASSES = {"rk45": "RK45", "dop853": "DOP853", "lsoda": "LSODA", "bdf": "BDF"}
    #: ``advance`` must cover whole record intervals (each call restarts the solver)
    whole_intervals = True

    def __init__(self, method, oracle, dt=1.0, rtol=1e-8, atol=1e-10, first_step=None,
                 lr=(1.0, 1.0, 1.0), weight_decay=0.0, stop_risk=None, stop_grad=None):
        import scipy.integrate

        if method not in self._CLASSES:
            raise ValueError(f"method={method!r} is invalid; allowed: "
                             f"{', '.join(self._CLASSES)}")
        from ..oracles.base import check_oracle

        check_oracle(oracle)
        _check_dt(dt)
        self.method = method
        self.solver_class = getattr(scipy.integrate, self._CLASSES[method])
        self.oracle = oracle
        self.dt = float(dt)
        self.rtol = rtol
        self.atol = atol
        self.first_step = first_step
        self.lrc, self.wd, self.stop_risk, self.stop_grad = _rates(
            lr, weight_decay, stop_risk, stop_grad, oracle.d, oracle.dtype)
        self.shape = (oracle.m, oracle.d + 2)
        self._theta = np.zeros(self.shape, oracle.dtype)
        self._v = np.zeros(self.shape, oracle.dtype)
        self.nfev = 0

    def _rhs(self, t, y):
        self._theta[:] = y.reshape(self.shape)
        self.oracle.velocity(self._theta, self._v)
        _adjust(self._theta, self._v, self.lrc, self.wd)
        self.nfev += 1
        return self._v.astype(np.float64).ravel()

    def evaluate(self, state):
        """Risk and raw oracle velocity at ``state.theta`` (the state does not move).

        Parameters
        ----------
        state : particles.State

        Returns
        -------
        risk : float
        v : ndarray, shape (m, d + 2)
        """
        return self.oracle.velocity(state.theta, self._v)

    def generators(self):
        """The random streams ``advance`` draws from (none: ODE methods refuse
        stochastic oracles and temperatures > 0)."""
        return {}

    def streams(self):
        """Names of the random streams ``advance`` draws from (none)."""
        return ()

    def advance(self, state, n_steps):
        """Integrate in place over ``n_steps * dt`` with a fresh solver; returns a Report.

        The status (risk, gradient, thresholds) is checked at the start; the solver's
        first step is ``state.solver["h"]`` (or ``first_step``), and its last proposed
        step is stored back there.

        Parameters
        ----------
        state : particles.State
        n_steps : int
            Nominal steps of ``dt`` (the solver chooses its own inside).

        Returns
        -------
        Report
        """
        theta = state.theta
        self.oracle.check(theta)
        risk, _ = self.oracle.velocity(theta, self._v)
        g2 = _adjust(theta, self._v, self.lrc, self.wd)
        code = int(_check_stop(risk, g2, self.stop_risk, self.stop_grad))
        if code != RUNNING or n_steps <= 0:
            return Report(0, float(risk), float(g2), code)
        t0 = state.step * self.dt
        t1 = (state.step + n_steps) * self.dt
        h = state.solver.get("h", self.first_step)
        kw = {"first_step": min(h, t1 - t0)} if h is not None and h > 0 else {}
        solver = self.solver_class(self._rhs, t0, theta.astype(np.float64).ravel(), t1,
                                   rtol=self.rtol, atol=self.atol, **kw)
        with pool_owner():
            while solver.status == "running":
                msg = solver.step()
                if solver.status == "failed":
                    raise FloatingPointError(f"{self.method} failed at t = {solver.t:.6g}: "
                                             f"{msg}")
                if not np.all(np.isfinite(solver.y)):
                    raise FloatingPointError(f"{self.method} produced NaN/Inf at "
                                             f"t = {solver.t:.6g}")
        h = getattr(solver, "h_abs", None)
        if h is not None and math.isfinite(h) and h > 0:
            state.solver["h"] = float(h)
        theta[:] = solver.y.reshape(self.shape)
        state.step += int(n_steps)
        state.time = state.step * self.dt
        return Report(int(n_steps), float(risk), float(g2), RUNNING)


def fixed_step(config, oracle):
    """The :class:`FixedStep` integrator of a run (registered in
    :data:`particles.registry.METHODS`); at a temperature > 0 it draws from the run's
    stream "diffusion". (With ``integrator.geometry = "wfr"``, or for a measure on the
    torus, a run uses :func:`particles.dynamics.conic.conic_step` instead.)"""
    from ..model.rng import stream

    ic = config.integrator
    noisy = ic.temperature > 0
    return FixedStep(ic.method, oracle, ic.dt, **_common(ic), temperature=ic.temperature,
                     temperature_schedule=ic.temperature_schedule,
                     diffusion=stream(config.seed, "diffusion") if noisy else None)


def ode_driver(config, oracle):
    """The :class:`OdeDriver` of a run (registered in :data:`particles.registry.METHODS`)."""
    ic = config.integrator
    return OdeDriver(ic.method, oracle, ic.dt, ic.rtol, ic.atol, **_common(ic))


def _common(ic):
    return dict(lr=(ic.lr_c, ic.lr_a, ic.lr_b), weight_decay=ic.weight_decay,
                stop_risk=ic.stop_risk, stop_grad=ic.stop_grad)
