"""Run a configured simulation in memory: wiring, stepping loop, result.

:func:`simulate` is the one-call entry point; :class:`Simulation` exposes the pieces
(problem, oracle, integrator, observer, schedule) for users who want to drive them.
Data flows one way: config -> problem -> oracle -> integrator -> recorder; writing
files is the business of :mod:`particles.dynamics.runner` and :mod:`particles.io`.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass

import numpy as np

from .. import config as _cfg
from .._checks import RunError
from ..registry import METHODS, locate
from ..model import initial, problems
from .. import oracles
from .._numba.threads import default_threads, pool_owner
from .integrators import DIVERGED, RUNNING, STATUS_NAMES
from .observables import Observer, invariants
from ..io.recorder import MemoryRecorder, Tee
from .schedule import extend_schedule, schedule_steps
from .resources import check_memory, check_steps
from ..model.rng import stream
from ..model.state import State, check_checkpoint

#: a run whose risk exceeds BLOWUP * (1 + initial risk) is declared diverged
BLOWUP = 1e8


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
        "complete", "stopped" (a threshold was reached), "diverged" or "interrupted".
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
        The configuration that ran (problem and init resolved, see
        :func:`particles.model.problems.resolve_config`).
    problem : particles.model.problems.Problem
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


def _integrator(config, oracle):
    """The run's integrator, from :data:`particles.registry.METHODS`; the conic step for
    the Wasserstein-Fisher-Rao geometry and for measures on the torus (deconvolution)."""
    ic = config.integrator
    if ic.geometry == "wfr" or config.problem.kind == "deconvolution":
        from .conic import conic_step

        return conic_step(config, oracle)
    return locate(METHODS, config.integrator.method, __package__)(config, oracle)


def probe_inputs(config, problem):
    """The run's probe inputs (``record.kernel_probes`` of them, shape (k, d)), or None
    when k = 0: the first training points of a data set, else draws from the input law
    on the run's stream "probe"."""
    k = config.record.kernel_probes
    if k == 0 or config.problem.kind == "deconvolution":  # a measure: no inputs, no kernel
        return None
    if problem.X is not None:
        return np.ascontiguousarray(problem.X[:k], dtype=np.float64)
    return problems.sample_inputs(stream(config.seed, "probe"), k, problem.d, problem.inputs)


class Simulation:
    """A configured run, ready to execute.

    Parameters
    ----------
    config : particles.config.Config
    theta : array_like, shape (m, d + 2), optional
        Initial particles (overrides ``config.init``; the stored config then says
        ``init.scheme = "array"``).
    problem : particles.model.problems.Problem, optional
        Overrides the problem built from ``config.problem``; it is checked against the
        config first (:func:`particles.model.problems.check_against`).

    Attributes
    ----------
    config : particles.config.Config
        The resolved configuration (what runs).
    problem, oracle, test, integrator, observer, theta0, frame_steps, obs_steps, n_steps
    problem_origin : {"config", "python"}
        Where the problem came from.
    """

    def __init__(self, config=None, *, theta=None, problem=None):
        config = _cfg.Config() if config is None else config
        if not isinstance(config, _cfg.Config):
            raise TypeError(f"config must be a particles.Config, got {type(config).__name__}")
        check_steps(config.integrator.n_steps)
        if problem is None:
            self.problem_origin = "config"
            if config.problem.kind == "teacher_student":  # sizes from the numbers, first
                check_memory(config, config.problem.d, 0)
            problem = problems.from_config(config.problem, config.network, config.seed)
        else:
            self.problem_origin = "python"
            problems.check_against(config, problem)
        self._wire(problems.resolve_config(config, problem, theta is not None), problem, theta)

    @classmethod
    def from_run(cls, run, restart=False):
        """The simulation stored in a run file (config, problem and theta0 as they ran).

        Parameters
        ----------
        run : particles.io.Run
        restart : bool
            Start again from theta0 (a salvage whose records are damaged); otherwise the
            checkpoint must be complete and consistent (ValueError naming the file).

        Returns
        -------
        Simulation
        """
        sim = cls.__new__(cls)
        sim.problem_origin = run.problem_origin
        run.check_consistency()  # a tampered file fails here
        sim._wire(run.config, run.problem(), run.theta0)
        if not restart:  # a checkpoint to continue from: complete and consistent, or refused
            ck = dict(run.checkpoint())
            streams = dict(ck.get("streams") or {})
            if "rng_state" in ck:  # files of version 0.1
                streams.setdefault("noise", ck["rng_state"])
            ck["streams"] = streams
            try:
                check_checkpoint(ck, streams=sim.integrator.streams() if ck.get("step") else (),
                                 dt=sim.dt, shape=sim.theta0.shape)
            except ValueError as exc:
                raise ValueError(f"{run.path!r}: {exc}") from None
        return sim

    def _wire(self, config, problem, theta):
        check_memory(config, problem.d, 0 if problem.X is None else problem.X.shape[0])
        self.config = config
        self.problem = problem
        net, ic = config.network, config.integrator
        self.dtype = np.dtype(config.dtype)
        self.m, self.d = net.m, problem.d
        init_seed = config.seed if config.init.seed is None else config.init.seed
        self.theta0 = initial.from_config(config.init, net, self.d, stream(init_seed, "init"),
                                          self.dtype, theta)
        self.oracle, self.test = oracles.from_config(config, problem,
                                                     lambda name: stream(config.seed, name),
                                                     self.theta0)
        self.integrator = _integrator(config, self.oracle)
        lr = (ic.lr_c, ic.lr_a, ic.lr_b)
        self.probes = self._probes()
        kernel = None
        if self.probes is not None:
            from ..model.network import empirical_ntk

            def kernel(theta, probes=self.probes):
                return empirical_ntk(theta, probes, activation=net.activation, bias=net.bias,
                                     alpha=net.effective_alpha, leak=net.leak)
        # the conservation laws hold for the Wasserstein flow of a network only
        neurons = config.problem.kind != "deconvolution" and ic.geometry == "wasserstein"
        self.observer = Observer(self.integrator, self.test, self.theta0, lr, ic.weight_decay,
                                 net.activation if neurons else None, kernel=kernel,
                                 temperature=ic.temperature,
                                 temperature_schedule=ic.temperature_schedule,
                                 alpha=net.effective_alpha, bias=net.bias,
                                 reg=float(getattr(self.oracle, "reg", 0.0)))
        self.n_steps = ic.n_steps
        self.dt = ic.dt
        self.frame_steps, self.obs_steps = schedule_steps(config.record, self.n_steps, ic.dt)

    def _probes(self):
        """The fixed inputs on which the tangent kernel's drift is recorded, or None
        (``record.kernel_probes = 0``, or the tangent model, whose kernel is fixed)."""
        if self.config.network.model == "tangent":
            return None
        return probe_inputs(self.config, self.problem)

    def invariants(self, theta):
        """Per-neuron Q_i = c^2/lr_c - |a|^2/lr_a - b^2/lr_b (docs/theory.md, "Invariants").

        Parameters
        ----------
        theta : ndarray, shape (m, d + 2)

        Returns
        -------
        ndarray, shape (m,)
        """
        ic = self.config.integrator
        return invariants(theta, (ic.lr_c, ic.lr_a, ic.lr_b))

    def observe(self, theta):
        """Observables at ``theta``; draws no random numbers.

        Parameters
        ----------
        theta : array_like, shape (m, d + 2)

        Returns
        -------
        dict
            Name -> float.
        """
        theta = np.array(theta, dtype=self.dtype, order="C", copy=True)
        return self.observer.observe(State(theta))

    @property
    def observable_names(self):
        """Names of the observables this run records."""
        return list(self.observer.names)

    def new_state(self):
        """The initial state (a copy of theta0, step 0, the run's random streams)."""
        gens = getattr(self.integrator, "generators", None)
        streams = gens() if gens is not None else \
            {name: self.oracle.streams[name] for name in self.integrator.streams()}
        return State(self.theta0.copy(), 0, 0.0, streams)

    def info(self, state):
        """Static description handed to recorders at ``begin``.

        Parameters
        ----------
        state : particles.State
            The state the run starts from (its checkpoint is included).

        Returns
        -------
        dict
        """
        return {"config": _cfg.to_dict(self.config), "m": self.m, "d": self.d,
                "dtype": self.dtype.name, "teacher": self.problem.teacher,
                "theta0": self.theta0, "seed": self.config.seed,
                "frame_steps": self.frame_steps, "obs_steps": self.obs_steps,
                "n_steps": self.n_steps, "dt": self.dt, "problem": self.problem,
                "problem_origin": self.problem_origin, "observables": self.observable_names,
                "initial_state": state.checkpoint("running"), "conventions": self.conventions(),
                "lazy_criterion": self.lazy_criterion()}

    def lazy_criterion(self):
        """kappa(w0), the lazy-training criterion, on the run's probe inputs (a dict, see
        :func:`particles.model.criterion.criterion`; stored in the run file as the JSON
        attribute ``/parameters/lazy_criterion``), or None with ``record.kernel_probes = 0``.

        Computed once per simulation with a bounded effort (2 restarts, 20 outer
        iterations, tolerance 1e-4: the recorded tolerances say what was reached).
        """
        if getattr(self, "_kappa", False) is not False:
            return self._kappa
        x = probe_inputs(self.config, self.problem)
        self._kappa = None
        ic = self.config.integrator
        if ic.lr_c == ic.lr_a == (ic.lr_b if self.config.network.bias else 0.0) == 0:
            x = None  # nothing trains: no regime to predict
        if x is not None:
            from ..model.criterion import criterion

            k = x.shape[0]
            y = self.problem.labels(x) if self.problem.teacher is not None else \
                np.asarray(self.problem.y[:k], dtype=np.float64)
            net, ic = self.config.network, self.config.integrator
            self._kappa = criterion(
                self.theta0, x, y, activation=net.activation, bias=net.bias, alpha=net.alpha,
                scaling=net.scaling, leak=net.leak, lr=(ic.lr_c, ic.lr_a, ic.lr_b),
                restarts=2, maxiter=20, tol=1e-4).as_dict()
        return self._kappa

    def conventions(self):
        """The network, time and model conventions of this run, in words and numbers
        (stored in the run file as the JSON attribute ``/parameters/conventions``)."""
        net, ic = self.config.network, self.config.integrator
        if self.config.problem.kind == "deconvolution":
            return {"scaling": "mean_field", "measure": "mu = (1/m) sum_i c_i delta_{p_i} on "
                    "the torus [0, 1) (c: column 0, p: column 1)",
                    "objective": "J = 1/2 ||Phi mu - y||^2 + reg |mu|(T); 'risk' is the data "
                                 "term, 'objective' J", "geometry": ic.geometry,
                    "time": "mean-field time: the velocity of particle i is -m grad_i J"}
        ae = net.effective_alpha
        network = {"mean_field": "f = (alpha/m) sum_i c_i sigma(a_i . x + b_i)",
                   "ntk": "f = (alpha/sqrt(m)) sum_i c_i sigma(a_i . x + b_i)",
                   "standard": "f = alpha sum_i c_i sigma(a_i . x + b_i)"}[net.scaling]
        return {"scaling": net.scaling, "network": network, "alpha": net.alpha,
                "alpha_eff": ae, "model": net.model,
                "time": "mean-field time: d theta_i/dt = -lr * m grad_{theta_i} R / alpha_eff^2",
                "gradient_descent_step": self.dt * self.m / ae ** 2,
                "step_map": "Euler with step dt is gradient descent on R(f) with step "
                            "eta = dt m / alpha_eff^2", "geometry": ic.geometry}

    def schedule(self, n_steps):
        """(frames, observables) steps for a run of ``n_steps`` steps (see
        :func:`particles.dynamics.schedule.extend_schedule`).

        Parameters
        ----------
        n_steps : int
            The run's length (the configured one, or moved by ``resume --t-end``).

        Returns
        -------
        frames, observables : ndarray of int64
        """
        return extend_schedule(self.config.record, self.frame_steps, self.obs_steps,
                               self.n_steps, n_steps)

    def run(self, recorder=None, progress=None, resume=None, t_end=None, keep=True,
            interrupted=None, rerecord=False):
        """Execute the run.

        Parameters
        ----------
        recorder : particles.io.recorder.Recorder, optional
            Receives frames, observables and checkpoints (e.g. an HDF5 writer). A
            :class:`MemoryRecorder` is always attached so the result holds them too.
        progress : callable, optional
            ``progress(step, n_steps, time, risk)`` after every compiled chunk.
        resume : dict, optional
            A checkpoint (as written by :meth:`particles.model.state.State.checkpoint`) to
            continue from; records up to its step are not repeated.
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
        rerecord : bool
            With ``resume``: record the frame and the observables at the checkpoint's
            step again (some were lost before reaching the file).

        Returns
        -------
        Result
        """
        n_steps = self.n_steps if t_end is None else t_end / self.dt
        check_steps(n_steps)
        n_steps = max(1, int(round(n_steps)))
        if keep:
            n_data = 0 if self.problem.X is None else self.problem.X.shape[0]
            check_memory(self.config, self.d, n_data, keep_frames=True)
        mem = MemoryRecorder(keep_frames=keep)
        rec = Tee(mem, recorder)
        frames, obs = self.schedule(n_steps)
        frame_set, obs_set = set(frames.tolist()), set(obs.tolist())
        state = self.new_state()
        info = self.info(state)
        if resume is not None:
            state.restore(resume)
        rec.begin(info)
        if resume is None:
            self._record(rec, state, frame_set, obs_set)
            rec.checkpoint(self._checkpoint(state, "running", t_end))
            rec.flush()  # the step-0 records are durable before the first step
        elif rerecord:
            self._record(rec, state, frame_set, obs_set)
            rec.flush()
        t0 = _time.perf_counter()
        try:
            with pool_owner(self.config.threads or default_threads(self.oracle)):
                status, message = self._loop(state, rec, sorted(obs_set), frame_set, obs_set,
                                             n_steps, t_end, progress, interrupted)
        except KeyboardInterrupt:
            rec.end("interrupted", f"interrupted at step {state.step} (t = {state.time:.6g})")
            raise
        except (ValueError, TypeError) as exc:  # not bad input: every input was accepted
            raise RunError(f"at step {state.step} (t = {state.time:.6g}): "
                           f"{type(exc).__name__}: {exc}") from exc
        rec.checkpoint(self._checkpoint(state, status, t_end))
        rec.end(status, message)
        return self._result(mem, state, status, message, _time.perf_counter() - t0)

    def _checkpoint(self, state, status, t_end):
        ck = state.checkpoint(status)
        if t_end is not None:
            ck["t_end"] = float(t_end)
        return ck

    def _loop(self, state, rec, events, frame_set, obs_set, n_steps, t_end, progress,
              interrupted):
        integ, dt = self.integrator, self.dt
        max_chunk = self.config.integrator.chunk
        chunk = min(10, max_chunk)
        risk0 = None
        for target in (s for s in events if s > state.step):
            while state.step < target:
                # accuracy-controlled methods restart at every call: one call per record
                # interval, so the restart points never depend on wall-clock chunking
                n = target - state.step if integ.whole_intervals else min(chunk, target - state.step)
                c0 = _time.perf_counter()
                try:
                    rep = integ.advance(state, n)
                except FloatingPointError as exc:
                    return "diverged", f"{exc}; records so far are kept"
                self.observer.accumulate(state, rep)
                code = rep.status
                if risk0 is None and math.isfinite(rep.risk):
                    risk0 = rep.risk
                if code == RUNNING and risk0 is not None and rep.risk > BLOWUP * (1 + abs(risk0)):
                    code = DIVERGED
                if progress is not None:
                    progress(state.step, n_steps, state.time, rep.risk)
                if code == DIVERGED:
                    return "diverged", (
                        f"diverged at step {state.step} (t = {state.time:.6g}): the risk became "
                        f"{rep.risk:.3g}; records up to t = {state.time:.6g} are kept; "
                        + self.safer_step(state.time))
                if code != RUNNING:
                    self._record(rec, state, frame_set | {state.step}, obs_set | {state.step})
                    return "stopped", (f"{STATUS_NAMES[code]} at step {state.step} "
                                       f"(t = {state.time:.6g})")
                if interrupted is not None and interrupted():
                    return "interrupted", (f"interrupted at step {state.step} "
                                           f"(t = {state.time:.6g}); resumable")
                if _time.perf_counter() - c0 < 0.25 and rep.steps == n:
                    chunk = min(chunk * 2, max_chunk)
            self._record(rec, state, frame_set, obs_set)
            rec.checkpoint(self._checkpoint(state, "running", t_end))
        return "complete", f"reached t = {n_steps * dt:.6g}"

    def safer_step(self, t_fail, factors=(10, 100, 1000), budget=2_000_000):
        """Advice after a divergence at time ``t_fail``: a step that was checked not to
        diverge, on this very problem and start, up to twice that time.

        Each candidate dt / factor is run in memory (no file, no records) while its step
        count stays within ``budget``; the first that does not diverge is suggested.

        Parameters
        ----------
        t_fail : float
            When the run diverged.
        factors : sequence of int
            The divisors of dt tried, in order.
        budget : int
            The most steps one trial may take.

        Returns
        -------
        str
            The advice, in words.
        """
        if self.integrator.whole_intervals:  # adaptive methods choose their own steps
            return "tighten rtol/atol or use a smaller first step"
        horizon = min(2 * max(t_fail, self.dt), self.config.integrator.t_end)
        for factor in factors:
            dt = self.dt / factor
            if horizon / dt > budget:
                break
            ic = self.config.integrator.replace(dt=dt, t_end=max(horizon, dt))
            probe = self.config.replace(integrator=ic, record=_cfg.RecordConfig(
                schedule="log", frames=2, observables_factor=1, kernel_probes=0))
            sim = Simulation(probe, theta=self.theta0, problem=self.problem)
            if sim.run(keep=False).status != "diverged":
                return (f"a smaller step is needed: dt = {dt:.3g} (dt / {factor}) did not "
                        f"diverge up to t = {horizon:.6g}: rerun with integrator.dt = {dt:.3g}")
        return (f"a smaller step is needed, but none down to dt / {factor} stayed stable up "
                f"to t = {horizon:.6g} within {budget} steps; lower alpha, tau or the learning "
                "rates, or use an accuracy-controlled method (integrator.method = 'rk45')")

    def _record(self, rec, state, frame_set, obs_set):
        if state.step in obs_set:
            rec.observables(state.step, state.time, self.observer.observe(state))
        if state.step in frame_set:
            rec.frame(state.step, state.time, state.theta)

    def _result(self, mem, state, status, message, wall):
        theta = state.theta
        return Result(theta=theta, theta0=self.theta0, status=status, message=message,
                      step=state.step, time=state.time,
                      frame_steps=np.asarray(mem.frame_steps, dtype=np.int64),
                      frame_times=np.asarray(mem.frame_times),
                      frames=(np.stack(mem.frames) if mem.frames
                              else np.zeros((0,) + theta.shape, theta.dtype)),
                      obs_steps=np.asarray(mem.obs_steps, dtype=np.int64),
                      obs_times=np.asarray(mem.obs_times),
                      observables={k: np.asarray(v) for k, v in mem.obs.items()},
                      config=self.config, problem=self.problem, wall_time=wall)


def simulate(config=None, *, theta=None, problem=None, recorder=None, progress=None):
    """Run a simulation and return its trajectory in memory.

    Parameters
    ----------
    config : particles.Config, optional
        The run description (defaults: 2-D ReLU teacher-student, exact oracle, Euler).
    theta : array_like, shape (m, d + 2), optional
        Initial particles instead of ``config.init``.
    problem : particles.model.problems.Problem, optional
        A problem built in Python (e.g. :func:`particles.dataset`) instead of
        ``config.problem``; checked against the config before any work starts.
    recorder : particles.io.recorder.Recorder, optional
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
