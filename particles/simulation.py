"""Run a configured simulation: init -> compiled steps -> records.

:func:`simulate` is the one-call entry point; :class:`Simulation` exposes the pieces
(problem, oracle, integrator, schedule) for users who want to drive them.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
import numpy as np

from . import config as _cfg
from . import initial, problems
from . import risk as _risk
from ._jit import FastCall, jit
from ._threads import pool_owner
from .activations import HOMOGENEOUS
from .integrators import DIVERGED, RUNNING, STATUS_NAMES, FixedStep, OdeDriver
from .recorder import MemoryRecorder, Tee, schedule_steps
from .rng import get_state, set_state, stream

#: a run whose risk exceeds BLOWUP * (1 + initial risk) is declared diverged
BLOWUP = 1e8


class Diverged(FloatingPointError):
    """The run diverged; everything recorded up to the failure is kept."""


@dataclass
class Result:
    """What :func:`simulate` returns (everything in memory).

    Attributes
    ----------
    theta : ndarray, shape (m, d + 2)
        Final particles.
    theta0 : ndarray, shape (m, d + 2)
        Initial particles.
    status : str
        "complete", "stopped" (a threshold was reached) or "diverged".
    message : str
    step : int
        Steps taken (nominal steps ``time / dt`` for the ODE methods).
    time : float
        Final mean-field time.
    frame_steps, frame_times : ndarray, shape (T,)
    frames : ndarray, shape (T, m, d + 2)
    obs_steps, obs_times : ndarray, shape (K,)
    observables : dict of str -> ndarray, shape (K,)
        "risk", "grad_norm2", "distance", and when they apply "test_risk",
        "invariant_drift".
    config : particles.config.Config
    problem : particles.problems.Problem
    wall_time : float
        Seconds spent in :meth:`Simulation.run`.
    """

    theta: np.ndarray
    theta0: np.ndarray
    status: str
    message: str
    step: int
    time: float
    frame_steps: np.ndarray
    frame_times: np.ndarray
    frames: np.ndarray
    obs_steps: np.ndarray
    obs_times: np.ndarray
    observables: dict
    config: _cfg.Config
    problem: problems.Problem
    wall_time: float = 0.0
    extra: dict = field(default_factory=dict)


def _dtype(config):
    return np.dtype(config.dtype)


class Simulation:
    """A configured run, ready to execute.

    Parameters
    ----------
    config : particles.config.Config
    theta : array_like, shape (m, d + 2), optional
        Initial particles (overrides ``config.init``).
    problem : particles.problems.Problem, optional
        Overrides the problem built from ``config.problem`` (its ``d`` must match).

    Attributes
    ----------
    problem, oracle, monitor, integrator, theta0, frame_steps, obs_steps, n_steps
    """

    def __init__(self, config=None, *, theta=None, problem=None):
        config = _cfg.Config() if config is None else config
        if not isinstance(config, _cfg.Config):
            raise TypeError(f"config must be a particles.Config, got {type(config).__name__}")
        self.config = config
        net, pc, oc, ic = config.network, config.problem, config.oracle, config.integrator
        dtype = _dtype(config)
        self.dtype = dtype
        if problem is None:
            problem = problems.from_config(pc, net, config.seed)
        elif problem.d != pc.d:
            raise ValueError(f"problem.d = {problem.d} differs from config problem.d = {pc.d}")
        self.problem = problem
        d, m = problem.d, net.m
        self.m, self.d = m, d
        self.theta0 = initial.from_config(config.init, net, d, stream(config.seed, "init"), dtype,
                                          theta)
        kw = dict(activation=net.activation, bias=net.bias, alpha=net.alpha, leak=net.leak,
                  dtype=dtype)
        self.exact_available = _risk.has_exact(problem, net.activation, net.bias)
        self.noise = None
        if oc.kind == "exact":
            self.oracle = _risk.exact_oracle(problem, m, quad_nodes=oc.quad_nodes, **kw)
        elif oc.kind == "sampled":
            X = problems.sample_inputs(stream(config.seed, "data"), oc.n, d, problem.inputs)
            self.oracle = _risk.sample_oracle(X, problem.labels(X), m, loss=problem.loss, **kw)
        elif oc.kind == "dataset":
            self.oracle = _risk.sample_oracle(problem.X, problem.y, m, loss=problem.loss,
                                              kind="dataset", **kw)
        else:
            self.noise = stream(config.seed, "noise")
            self.oracle = _risk.online_oracle(problem, m, self.noise, batch=oc.batch, **kw)
        # monitor: deterministic risk for the records (never draws from the noise stream)
        self.monitor = None
        self.test = None
        if self.exact_available and oc.kind in ("sampled", "online"):
            self.test = _risk.exact_oracle(problem, m, quad_nodes=oc.quad_nodes, **kw)
        elif oc.kind in ("sampled", "online") and oc.n_monitor > 0:
            Xm = problems.sample_inputs(stream(config.seed, "monitor"), oc.n_monitor, d,
                                        problem.inputs)
            self.test = _risk.sample_oracle(Xm, problem.labels(Xm), m, loss=problem.loss, **kw)
        elif oc.kind == "dataset" and problem.X_test is not None:
            self.test = _risk.sample_oracle(problem.X_test, problem.y_test, m,
                                            loss=problem.loss, kind="dataset", **kw)
        self.monitor = self.test if oc.kind == "online" else self.oracle
        lr = (ic.lr_c, ic.lr_a, ic.lr_b)
        common = dict(lr=lr, weight_decay=ic.weight_decay, stop_risk=ic.stop_risk,
                      stop_grad=ic.stop_grad)
        if ic.method in _cfg.FIXED_METHODS:
            self.integrator = FixedStep(ic.method, self.oracle, ic.dt, **common)
        else:
            self.integrator = OdeDriver(ic.method, self.oracle, ic.rtol, ic.atol,
                                        first_step=None, **common)
        self.n_steps = ic.n_steps
        self.dt = ic.dt
        self.frame_steps, self.obs_steps = schedule_steps(config.record, self.n_steps, ic.dt)
        self.homogeneous = net.activation in HOMOGENEOUS
        self._lr = np.array(lr)
        self._wd = float(ic.weight_decay)
        self._stats = np.zeros(3)
        self._summaries = FastCall(_summaries)
        self._v = np.zeros((m, d + 2), dtype)
        self._t_end = None

    # ------------------------------------------------------------------ observables
    def invariants(self, theta):
        """Per-neuron Q_i = c^2/lr_c - |a|^2/lr_a - b^2/lr_b (THEORY.md section 4)."""
        t = np.asarray(theta, dtype=np.float64)
        d = self.d
        return (t[:, 0] ** 2 / self._lr[0] - np.sum(t[:, 1:d + 1] ** 2, 1) / self._lr[1]
                - t[:, d + 1] ** 2 / self._lr[2])

    def observe(self, theta):
        """Observables at ``theta`` (dict name -> float); draws no random numbers."""
        theta = np.ascontiguousarray(theta, dtype=self.dtype)
        if not theta.flags.writeable:
            theta = theta.copy()
        out = {}
        mon = self.monitor
        stats = self._stats
        if mon is not None:
            # the record's velocity is the next Euler/Heun step's first one: compute it
            # in the integrator's buffer and let the step reuse it
            prime = mon is self.oracle and isinstance(self.integrator, FixedStep)
            buf = self.integrator.v if prime else self._v
            r, v = mon.velocity(theta, buf)
            if prime:
                self.integrator.prime(r)
            self._summaries(theta, v, self.theta0, self._q0, self._lr, self._wd, True, stats)
            out["risk"] = r
            out["grad_norm2"] = float(stats[0])
        else:
            self._summaries(theta, self._v, self.theta0, self._q0, self._lr, self._wd, False,
                            stats)
        if self.test is not None and self.test is not mon:
            out["test_risk"] = self.test.risk(theta)
        out["distance"] = float(stats[1])
        if self.homogeneous:
            out["invariant_drift"] = float(stats[2])
        return out

    @property
    def observable_names(self):
        """Names of the observables this run records."""
        names = []
        if self.monitor is not None:
            names += ["risk", "grad_norm2"]
        if self.test is not None and self.test is not self.monitor:
            names.append("test_risk")
        names.append("distance")
        if self.homogeneous:
            names.append("invariant_drift")
        return names

    def info(self):
        """Static description handed to recorders at ``begin``."""
        return {"config": _cfg.to_dict(self.config), "m": self.m, "d": self.d,
                "dtype": self.dtype.name, "teacher": self.problem.teacher,
                "theta0": self.theta0, "seed": self.config.seed,
                "frame_steps": self.frame_steps, "obs_steps": self.obs_steps,
                "n_steps": self.n_steps, "dt": self.dt, "problem": self.problem,
                "observables": self.observable_names,
                "initial_state": self._checkpoint(0, 0.0, self.theta0, "running")}

    def _checkpoint(self, step, t, theta, status):
        state = {"step": int(step), "time": float(t), "theta": np.array(theta, copy=True),
                 "status": status}
        if self._t_end is not None:
            state["t_end"] = float(self._t_end)
        if self.noise is not None:
            state["rng_state"] = get_state(self.noise)
        if isinstance(self.integrator, OdeDriver):
            state["h"] = self.integrator.h
        return state

    # ------------------------------------------------------------------ main loop
    def schedule(self, n_steps):
        """(frames, observables) steps for a run of ``n_steps`` steps.

        Up to the configured end this is the configured schedule; a longer run
        (``resume --t-end``) appends log-spaced records after it.
        """
        frames, obs = self.frame_steps, self.obs_steps
        if n_steps < self.n_steps:
            frames = np.union1d(frames[frames <= n_steps], [n_steps])
            obs = np.union1d(obs[obs <= n_steps], frames)
        elif n_steps > self.n_steps:
            rc = self.config.record
            extra = np.round(np.geomspace(self.n_steps, n_steps, max(rc.frames // 2, 2)))
            extra_obs = np.round(np.geomspace(self.n_steps, n_steps,
                                              max(rc.frames * rc.observables_factor // 2, 2)))
            frames = np.union1d(frames, extra)
            obs = np.union1d(np.union1d(obs, extra_obs), frames)
        return frames.astype(np.int64), obs.astype(np.int64)

    def run(self, recorder=None, progress=None, resume=None, t_end=None, keep=True,
            interrupted=None):
        """Execute the run.

        Parameters
        ----------
        recorder : particles.recorder.Recorder, optional
            Receives frames, observables and checkpoints (e.g. an HDF5 writer). A
            :class:`MemoryRecorder` is always attached so the result holds them too.
        progress : callable, optional
            ``progress(step, n_steps, time, risk)`` after every compiled chunk.
        resume : dict, optional
            A checkpoint (``step``, ``time``, ``theta``, ``rng_state``, ``h``) to
            continue from; records up to that step are not repeated.
        t_end : float, optional
            New final time (extends or shortens the schedule's end; used by resume).
        keep : bool
            Keep the frames in memory for the Result (False: only the final state,
            so memory stays bounded whatever the run length).
        interrupted : callable, optional
            Polled after every compiled chunk; when it returns True the run stops
            there with status "interrupted", after a checkpoint of the current state
            (the command line sets it from SIGINT, so Ctrl-C never lands inside a
            write).

        Returns
        -------
        Result
        """
        mem = MemoryRecorder(keep_frames=keep)
        rec = Tee(mem, recorder)
        self._q0 = self.invariants(self.theta0)
        self._t_end = t_end
        n_steps = self.n_steps if t_end is None else max(1, int(round(t_end / self.dt)))
        frames, obs = self.schedule(n_steps)
        frame_set = set(frames.tolist())
        obs_set = set(obs.tolist())
        dt = self.dt
        if resume is None:
            theta = self.theta0.copy()
            step = 0
            rec.begin(self.info())
            self._record(rec, 0, theta, frame_set, obs_set)
            rec.checkpoint(self._checkpoint(0, 0.0, theta, "running"))
        else:
            theta = np.ascontiguousarray(resume["theta"], dtype=self.dtype).copy()
            step = int(resume["step"])
            rec.begin(self.info())
            if self.noise is not None and resume.get("rng_state") is not None:
                set_state(self.noise, resume["rng_state"])
            if isinstance(self.integrator, OdeDriver):
                self.integrator.h = resume.get("h")
        t0 = _time.perf_counter()
        status, message = "complete", f"reached t = {n_steps * dt:.6g}"
        risk0 = None
        events = [s for s in sorted(obs_set) if s > step]
        chunk = min(10, self.config.integrator.chunk)
        owner = pool_owner(self.oracle.owner)
        owner.__enter__()
        try:
            for target in events:
                while step < target:
                    n = min(chunk, target - step)
                    c0 = _time.perf_counter()
                    if isinstance(self.integrator, FixedStep):
                        done, risk, g2, code = self.integrator.advance(theta, n)
                    else:
                        # one solver segment per record interval, never split: the
                        # segments (restart points) must not depend on wall-clock chunking
                        n = target - step
                        risk, g2, code = self.integrator.status(theta)
                        done = 0
                        if code == RUNNING:
                            self.integrator.advance(theta, step * dt, (step + n) * dt)
                            done = n
                    step += done
                    if risk0 is None and math.isfinite(risk):
                        risk0 = risk
                    if code == RUNNING and risk0 is not None and risk > BLOWUP * (1 + abs(risk0)):
                        code = DIVERGED
                    if progress is not None:
                        progress(step, n_steps, step * dt, risk)
                    if code != RUNNING:
                        raise _Stop(code, risk, g2)
                    if interrupted is not None and interrupted():
                        raise _Interrupt()
                    elapsed = _time.perf_counter() - c0
                    if elapsed < 0.25 and done == n:
                        chunk = min(chunk * 2, self.config.integrator.chunk)
                self._record(rec, step, theta, frame_set, obs_set)
                rec.checkpoint(self._checkpoint(step, step * dt, theta, "running"))
        except _Stop as stop:
            if stop.code == DIVERGED:
                status = "diverged"
                message = (f"diverged at step {step} (t = {step * dt:.6g}): the risk became "
                           f"{stop.risk:.3g}; records up to t = {step * dt:.6g} are kept; a "
                           f"smaller step (dt <= {dt / 10:.3g}) would be safer")
            else:
                status = "stopped"
                message = f"{STATUS_NAMES[stop.code]} at step {step} (t = {step * dt:.6g})"
                self._record(rec, step, theta, frame_set | {step}, obs_set | {step})
        except _Interrupt:
            status = "interrupted"
            message = f"interrupted at step {step} (t = {step * dt:.6g}); resumable"
        except FloatingPointError as exc:
            status, message = "diverged", f"{exc}; records so far are kept"
        except KeyboardInterrupt:
            rec.end("interrupted", f"interrupted at step {step} (t = {step * dt:.6g})")
            raise
        finally:
            owner.__exit__(None, None, None)
        final_state = status
        rec.checkpoint(self._checkpoint(step, step * dt, theta, final_state))
        rec.end(status, message)
        wall = _time.perf_counter() - t0
        obs_arr = {k: np.asarray(v) for k, v in mem.obs.items()}
        return Result(theta=theta, theta0=self.theta0, status=status, message=message,
                      step=step, time=step * dt,
                      frame_steps=np.asarray(mem.frame_steps, dtype=np.int64),
                      frame_times=np.asarray(mem.frame_times),
                      frames=(np.stack(mem.frames) if mem.frames
                              else np.zeros((0,) + theta.shape, theta.dtype)),
                      obs_steps=np.asarray(mem.obs_steps, dtype=np.int64),
                      obs_times=np.asarray(mem.obs_times), observables=obs_arr,
                      config=self.config, problem=self.problem, wall_time=wall)

    def _record(self, rec, step, theta, frame_set, obs_set):
        t = step * self.dt
        if step in obs_set:
            rec.observables(step, t, self.observe(theta))
        if step in frame_set:
            rec.frame(step, t, theta)


@jit
def _summaries(theta, v, theta0, q0, lr, wd, with_v, out):
    # out = ((1/m) sum |v_i - wd theta_i|^2, sqrt((1/m) sum |theta_i - theta0_i|^2),
    #        max_i |Q_i - Q_i(0)|)
    m, k = theta.shape
    d = k - 2
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
            lrj = lr[0] if j == 0 else (lr[2] if j == d + 1 else lr[1])
            q += (x * x if j == 0 else -x * x) / lrj
        drift = max(drift, abs(q - q0[i]))
    out[0] = g2 / m
    out[1] = np.sqrt(dist / m)
    out[2] = drift


class _Interrupt(Exception):
    pass


class _Stop(Exception):
    def __init__(self, code, risk, g2):
        super().__init__(code)
        self.code, self.risk, self.g2 = code, risk, g2


def simulate(config=None, *, theta=None, problem=None, recorder=None, progress=None):
    """Run a simulation and return its trajectory in memory.

    Parameters
    ----------
    config : particles.Config, optional
        The run description (defaults: 2-D ReLU teacher-student, exact oracle, Euler).
    theta : array_like, shape (m, d + 2), optional
        Initial particles instead of ``config.init``.
    problem : particles.problems.Problem, optional
        A problem built in Python (e.g. :func:`particles.dataset`) instead of
        ``config.problem``.
    recorder : particles.recorder.Recorder, optional
        Extra recorder (e.g. an HDF5 writer).
    progress : callable, optional
        ``progress(step, n_steps, time, risk)``.

    Returns
    -------
    Result

    Examples
    --------
    >>> import particles as pt
    >>> cfg = pt.Config(network=pt.NetworkConfig(m=8),
    ...                 integrator=pt.IntegratorConfig(dt=0.05, t_end=1.0))
    >>> res = pt.simulate(cfg)
    >>> res.frames.shape[1:], res.status
    ((8, 4), 'complete')
    """
    return Simulation(config, theta=theta, problem=problem).run(recorder=recorder,
                                                               progress=progress)
