"""Validated, frozen configuration of a run.

A run is described by one :class:`Config` made of small frozen dataclasses, one per
stage of the data flow (problem, network, init, oracle, integrator, record, output).
Every field is checked when the object is built: a bad value raises ``ValueError``
(or ``TypeError`` for a wrong type) whose message names the field, the value and
what is allowed, before any work starts. :func:`from_dict` and :func:`load_toml`
build a Config from nested mappings (unknown keys are rejected); :func:`to_dict`
is their inverse and is what a run's file stores.

The schema, with every key, default and meaning, is documented in docs/config.md.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Optional, Tuple

from .._checks import (ConfigError, UnusedKeyError, _check_bool, _check_choice, _check_float,  # noqa: F401
                      _check_int, _fail)
from ..registry import (ACTIVATIONS, FIXED_METHODS, GEOMETRIES, LOSSES, PROBLEM_KINDS,
                        TEMPERATURE_SCHEDULES)
from ..registry import METHODS as _METHODS
from ..registry import ORACLES as _ORACLE_KINDS
from .rules import exact_rule, exact_tangent_rule

INPUTS = ("gaussian", "sphere")
TEACHER_OUTPUTS = ("sign", "random_sign", "gaussian", "ones")
INIT_SCHEMES = ("gaussian", "sphere", "grid", "uniform", "array")
#: the initial schemes of a measure on the torus (deconvolution)
TORUS_SCHEMES = ("grid", "uniform", "array")
#: the largest cutoff of a deconvolution problem
MAX_CUTOFF = 100_000
ORACLES = tuple(_ORACLE_KINDS)
METHODS = tuple(_METHODS)
ODE_METHODS = tuple(m for m in METHODS if m not in FIXED_METHODS)
#: the largest output scale alpha (and the smallest, 1 / MAX_SCALE): alpha^2 stays finite
MAX_SCALE = 1e100
#: the largest initial scale: the risk grows like tau^4 and must stay finite
MAX_TAU = 1e50
#: the largest Fisher-Rao rate
MAX_RATE = 1e100
#: the methods that integrate a temperature > 0 (Euler-Maruyama)
NOISY_METHODS = ("euler", "sgd")
SCHEDULES = ("log", "every", "times")
DTYPES = ("float64", "float32")
SCALINGS = ("mean_field", "ntk", "standard")
MODELS = ("full", "tangent")


def scaled_alpha(alpha, scaling, m):
    """The effective output scale of the 1/m network: alpha, alpha sqrt(m) or alpha m for
    the scalings "mean_field", "ntk", "standard" (no checks)."""
    factor = {"mean_field": 1.0, "ntk": math.sqrt(m), "standard": float(m)}
    return float(alpha) * factor[scaling]


class _Section:
    """Mixin: ``replace`` (re-validated) for frozen sections."""

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ProblemConfig(_Section):
    """What is learnt: input law, target and loss.

    Attributes
    ----------
    kind : {"teacher_student", "dataset", "deconvolution"}
        A teacher network labels inputs drawn from ``inputs``; or a user data set
        (``data``: path of an .npz file with arrays X, y and optionally X_test, y_test);
        or sparse deconvolution on the torus (docs/deconvolution.md): the particles are
        a signed measure (1/m) sum_i c_i delta_{p_i} fitted to a low-pass observation of
        spikes, with the keys ``cutoff``, ``spikes`` (or ``m0``), ``noise`` and ``reg``.
    d : int
        Input dimension (>= 1); 1 for deconvolution (the torus [0, 1)).
    inputs : {"gaussian", "sphere"}
        N(0, I_d) or uniform on the unit sphere S^(d-1).
    loss : {"squared", "logistic"}
        l(f, y) = (f - y)^2 / 2 or log(1 + exp(-y f)) (labels sign(teacher)).
    m0 : int
        Teacher width; for deconvolution without ``spikes``, the number of spikes drawn
        from the problem's seed (2.5 / cutoff apart, random signs, magnitudes in
        [0.5, 1.5]).
    teacher_activation : str or None
        Teacher's activation; None means the student's.
    teacher_bias : bool
        Teacher neurons have biases (N(0, 1)).
    teacher_output : {"sign", "random_sign", "gaussian", "ones"}
        Teacher output weights: alternating +-1, i.i.d. +-1 with probability 1/2 each
        (the published teachers), N(0, 1), or all 1.
    teacher_scale : float
        Factor on the teacher's output weights (> 0).
    data : str or None
        Path of the data set (.npz) for kind = "dataset"; None when the data set is
        passed from Python (``problem=particles.dataset(...)``), which the run file
        then stores.
    seed : int or None
        Seed of the teacher's random stream; None: the run ``seed``. Fixing it keeps
        one teacher while the run seed redraws the initialisation and samples.
    cutoff : int
        Deconvolution: K, the observation keeps the frequencies |k| <= K (1 to 100000).
    spikes : list of [p, w]
        Deconvolution: the true spikes (position in [0, 1), nonzero weight), at least
        1 / cutoff apart on the torus; empty: ``m0`` spikes drawn from the seed.
    noise : float
        Deconvolution: sigma >= 0, i.i.d. N(0, sigma^2) on the 2K + 1 real Fourier
        coefficients of the observation (drawn from the problem's seed).
    reg : float
        Deconvolution: lam >= 0 of the total-variation penalty lam |mu|(T).
    """

    kind: str = "teacher_student"
    d: int = 2
    inputs: str = "gaussian"
    loss: str = "squared"
    m0: int = 3
    teacher_activation: Optional[str] = None
    teacher_bias: bool = False
    teacher_output: str = "sign"
    teacher_scale: float = 1.0
    data: Optional[str] = None
    seed: Optional[int] = None
    cutoff: int = 10
    spikes: Tuple[Tuple[float, float], ...] = ()
    noise: float = 0.0
    reg: float = 0.0

    def __post_init__(self):
        _check_choice("problem.kind", self.kind, PROBLEM_KINDS)
        _check_int("problem.d", self.d, 1)
        _check_choice("problem.inputs", self.inputs, INPUTS)
        _check_choice("problem.loss", self.loss, LOSSES)
        _check_int("problem.m0", self.m0, 1)
        if self.teacher_activation is not None:
            _check_choice("problem.teacher_activation", self.teacher_activation,
                          tuple(ACTIVATIONS))
        _check_bool("problem.teacher_bias", self.teacher_bias)
        _check_choice("problem.teacher_output", self.teacher_output, TEACHER_OUTPUTS)
        object.__setattr__(self, "teacher_scale", _check_float(
            "problem.teacher_scale", self.teacher_scale, 0.0, lo_open=True))
        if self.seed is not None:
            _check_int("problem.seed", self.seed, 0)
        if self.kind == "dataset":
            if self.data is not None and (not isinstance(self.data, str) or not self.data):
                _fail("problem.data", self.data, "the path of an .npz file with arrays X, y "
                      "(kind = 'dataset'), or None with a data set passed from Python")
        elif self.data is not None:
            _fail("problem.data", self.data, "None unless problem.kind = 'dataset'")
        _check_int("problem.cutoff", self.cutoff, 1, MAX_CUTOFF)
        object.__setattr__(self, "spikes", _check_spikes(self.spikes))
        object.__setattr__(self, "noise", _check_float("problem.noise", self.noise, 0.0))
        object.__setattr__(self, "reg", _check_float("problem.reg", self.reg, 0.0))
        if self.kind == "deconvolution":
            if self.d != 1:
                _fail("problem.d", self.d, "1 with problem.kind = 'deconvolution' (the torus "
                      "[0, 1))")
            # (problem.inputs is not used either; it is not refused, so that a deconvolution
            # can be set up with --set on top of any teacher-student file)
            _check_unused(self, ("loss", "teacher_activation", "teacher_bias",
                                 "teacher_output", "teacher_scale"),
                          "problem.kind = 'deconvolution'")
            if not self.spikes and self.m0 * 2.5 > self.cutoff:
                _fail("problem.m0", self.m0, f"at most {int(self.cutoff // 2.5)} spikes drawn "
                      f"with problem.cutoff = {self.cutoff} (they are 2.5 / cutoff apart)")
        else:
            _check_unused(self, ("cutoff", "spikes", "noise", "reg"),
                          f"problem.kind = {self.kind!r} (deconvolution keys)")


def _check_spikes(spikes):
    """``problem.spikes`` as a tuple of (p, w) pairs (range and separation are checked
    with the cutoff when the problem is built)."""
    allowed = "a list of [position, weight] pairs, positions in [0, 1), weights nonzero"
    if not isinstance(spikes, (tuple, list)):
        _fail("problem.spikes", spikes, allowed)
    out = []
    for pair in spikes:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            _fail("problem.spikes", list(spikes), allowed)
        p = _check_float("problem.spikes", pair[0], 0.0)
        w = _check_float("problem.spikes", pair[1])
        if p >= 1 or w == 0:
            _fail("problem.spikes", list(map(list, spikes)), allowed)
        out.append((p, w))
    return tuple(out)


def _check_unused(section, names, why):
    """Refuse a non-default value of keys that ``why`` does not use (never ignored)."""
    name = type(section).__name__
    prefix = {"ProblemConfig": "problem", "NetworkConfig": "network",
              "IntegratorConfig": "integrator", "InitConfig": "init",
              "OracleConfig": "oracle", "RecordConfig": "record"}[name]
    defaults = {f.name: f.default for f in fields(section)}
    for key in names:
        value = getattr(section, key)
        if value != defaults[key]:
            raise UnusedKeyError(f"{prefix}.{key}={value!r} is invalid; allowed: its default "
                                 f"{defaults[key]!r}: the key is not used with {why}",
                                 f"{prefix}.{key}")


@dataclass(frozen=True)
class NetworkConfig(_Section):
    """The student f(x) = (alpha/m) sum_i c_i sigma(a_i . x + b_i).

    Attributes
    ----------
    m : int
        Number of neurons (particles), >= 1.
    activation : str
        One of relu, leaky_relu, sigmoid, tanh, erf, softplus.
    bias : bool
        Train a bias b_i per neuron (otherwise b = 0).
    alpha : float
        Output scale (> 0): 1 is mean-field, large is lazy; objective R(f)/alpha^2.
    leak : float
        Negative-side slope of leaky_relu, in [0, 1).
    scaling : {"mean_field", "ntk", "standard"}
        The network f = alpha/m sum_i (mean_field), alpha/sqrt(m) sum_i (ntk) or alpha
        sum_i (standard, as in code that writes f = sum_i c_i relu(a_i . x)). Internally
        a run uses the effective output scale alpha_eff = alpha, alpha sqrt(m) or
        alpha m with the 1/m network; gradient descent with step eta on R(f) is the
        library's Euler step dt = eta alpha_eff^2 / m (docs/theory.md, "Scalings").
    model : {"full", "tangent"}
        Train the network itself, or its linearisation around the initial particles,
        f_bar = f(theta0) + Df(theta0)(theta - theta0) (docs/lazy.md): any sample-based
        oracle, and the exact oracle for bias-free relu.
    """

    m: int = 32
    activation: str = "relu"
    bias: bool = False
    alpha: float = 1.0
    leak: float = 0.01
    scaling: str = "mean_field"
    model: str = "full"

    def __post_init__(self):
        _check_int("network.m", self.m, 1)
        _check_choice("network.activation", self.activation, tuple(ACTIVATIONS))
        _check_bool("network.bias", self.bias)
        object.__setattr__(self, "alpha", _check_float("network.alpha", self.alpha, 0.0,
                                                       MAX_SCALE, lo_open=True))
        if self.alpha < 1 / MAX_SCALE:  # the objective R / alpha^2 must stay finite
            _fail("network.alpha", self.alpha, f"a number in [{1 / MAX_SCALE:g}, "
                  f"{MAX_SCALE:g}] (alpha^2 must neither overflow nor vanish)")
        object.__setattr__(self, "leak", _check_float("network.leak", self.leak, 0.0, 0.999))
        _check_choice("network.scaling", self.scaling, SCALINGS)
        _check_choice("network.model", self.model, MODELS)

    @property
    def effective_alpha(self) -> float:
        """alpha_eff such that f = (alpha_eff / m) sum_i c_i sigma(a_i . x + b_i)."""
        return scaled_alpha(self.alpha, self.scaling, self.m)

    def dt_for_step(self, eta) -> float:
        """The Euler step dt that equals gradient descent with step ``eta`` on R(f).

        Parameters
        ----------
        eta : float
            The learning rate of plain gradient descent on R(f).

        Returns
        -------
        float
            dt = eta alpha_eff^2 / m (mean-field time per step).
        """
        return eta * self.effective_alpha ** 2 / self.m


@dataclass(frozen=True)
class InitConfig(_Section):
    """Initial particles.

    Attributes
    ----------
    scheme : {"gaussian", "sphere", "grid", "uniform", "array"}
        c, a, b i.i.d. N(0, tau^2); or a uniform on the sphere of radius tau_a with
        c ~ N(0, tau_c^2); or a user array (``path`` of a .npy (m, d+2) file, or the
        ``theta`` argument of :func:`particles.simulate`). On the torus
        (deconvolution): "grid" puts the positions at (i + 1/2)/m, "uniform" draws them
        uniformly; both give masses c_i = tau_c with alternating signs (a Fisher-Rao
        flow never changes a mass's sign, so both signs must be present at the start);
        with ``symmetric`` the m/2 positions carry one mass of each sign.
    tau : float
        Common scale (>= 0); tau_c, tau_a, tau_b override it per layer.
    symmetric : bool
        Pair neuron i with (-c_i, a_i, b_i) so that f = 0 exactly at t = 0
        (needs an even m).
    c_law : {"gaussian", "abs_gaussian", "uniform"}
        Output weights tau_c N(0, 1), tau_c |N(0, 1)| or tau_c Uniform[0, 1] (before
        the symmetric copies; the published symmetric initialisations take c >= 0).
    path : str or None
        .npy file for scheme = "array".
    seed : int or None
        Seed of the initialisation's random stream; None: the run ``seed``. Fixing it
        keeps one base initialisation (rescaled by ``tau``) across a parameter grid.
    """

    scheme: str = "gaussian"
    tau: float = 0.1
    tau_c: Optional[float] = None
    tau_a: Optional[float] = None
    tau_b: Optional[float] = None
    symmetric: bool = False
    c_law: str = "gaussian"
    path: Optional[str] = None
    seed: Optional[int] = None

    def __post_init__(self):
        _check_choice("init.scheme", self.scheme, INIT_SCHEMES)
        _check_choice("init.c_law", self.c_law, ("gaussian", "abs_gaussian", "uniform"))
        object.__setattr__(self, "tau", _check_float("init.tau", self.tau, 0.0, MAX_TAU))
        for name in ("tau_c", "tau_a", "tau_b"):
            object.__setattr__(self, name, _check_float(f"init.{name}", getattr(self, name),
                                                        0.0, MAX_TAU, allow_none=True))
        _check_bool("init.symmetric", self.symmetric)
        if self.path is not None and not isinstance(self.path, str):
            raise TypeError(f"init.path must be a string, got {self.path!r}")
        if self.seed is not None:
            _check_int("init.seed", self.seed, 0)

    @property
    def scales(self) -> Tuple[float, float, float]:
        """(tau_c, tau_a, tau_b) with the common ``tau`` filled in."""
        def pick(v):
            return self.tau if v is None else v
        return pick(self.tau_c), pick(self.tau_a), pick(self.tau_b)


@dataclass(frozen=True)
class OracleConfig(_Section):
    """How the population risk and its velocity are computed.

    Attributes
    ----------
    kind : {"exact", "sampled", "online", "dataset"}
        Closed-form Gaussian integrals (squared loss, teacher-student); a fixed Monte
        Carlo sample of ``n`` inputs; a fresh batch of ``batch`` inputs per step
        (online SGD); the user's data set.
    n : int
        Sample size of the `sampled` oracle (set with another kind: refused).
    batch : int
        Batch size of the `online` oracle (set with another kind: refused).
    quad_nodes : int
        Largest number of nodes per dimension of the adaptive 2-D quadrature (exact
        oracle with sigmoid, tanh, softplus).
    n_monitor : int
        Size of the fixed sample used to report the risk when no exact formula
        applies (sampled and online oracles; set with another kind: refused); 0
        disables it.
    """

    kind: str = "exact"
    n: int = 1000
    batch: int = 100
    quad_nodes: int = 384
    n_monitor: int = 10000

    def __post_init__(self):
        _check_choice("oracle.kind", self.kind, ORACLES)
        _check_int("oracle.n", self.n, 1)
        _check_int("oracle.batch", self.batch, 1)
        _check_int("oracle.quad_nodes", self.quad_nodes, 24, 2000)
        _check_int("oracle.n_monitor", self.n_monitor, 0)
        if self.kind != "sampled":
            _check_unused(self, ("n",), f"oracle.kind = {self.kind!r} (the sample size of "
                          "the 'sampled' oracle)")
        if self.kind != "online":
            _check_unused(self, ("batch",), f"oracle.kind = {self.kind!r} (the batch size "
                          "of the 'online' oracle)")
        if self.kind not in ("sampled", "online"):
            _check_unused(self, ("n_monitor",), f"oracle.kind = {self.kind!r} (the monitor "
                          "sample of the 'sampled' and 'online' oracles)")


@dataclass(frozen=True)
class IntegratorConfig(_Section):
    """How time advances (mean-field time units).

    Attributes
    ----------
    method : str
        Fixed step: "euler" (gradient descent), "heun" (2nd order), "sgd" (Euler on the
        online oracle). Accuracy-controlled (SciPy): "rk45", "dop853", "lsoda", "bdf".
    dt : float
        Step (fixed-step methods) or first step (others), > 0.
    t_end : float
        Final time, > 0.
    rtol, atol : float
        Tolerances of the accuracy-controlled methods (set with a fixed-step method:
        refused).
    lr_c, lr_a, lr_b : float
        Per-layer learning-rate multipliers (>= 0; 0 freezes the layer, e.g. lr_a =
        lr_b = 0 trains the output weights of fixed random features).
    weight_decay : float
        lambda >= 0 of the regulariser lambda |theta_i|^2 / 2.
    stop_risk : float or None
        Stop once the risk is <= this value.
    stop_grad : float or None
        Stop once the mean squared velocity (1/m) sum |v_i|^2 is <= this value.
    chunk : int
        Most steps run in one compiled call between progress updates.
    temperature : float
        T >= 0 of the mean-field Langevin dynamics (docs/langevin.md): every step adds
        sqrt(2 T dt lr) times a standard normal to each trained coordinate, drawn from
        the run's stream "diffusion". 0 (default) is the noiseless flow. Needs a method
        with a fixed step and no error control: "euler" or "sgd" (Euler-Maruyama).
    temperature_schedule : {"constant", "log"}
        T(t) = temperature, or temperature / log(e + t) (annealing).
    geometry : {"wasserstein", "wfr"}
        The geometry of the flow (docs/deconvolution.md): "wasserstein" moves every coordinate;
        "wfr" (Wasserstein-Fisher-Rao, the conic particle flow) treats c as a signed
        mass whose magnitude grows or shrinks multiplicatively at the rate ``fr_rate``
        while the other coordinates move per unit mass at lr_a, lr_b. Needs "euler" or
        "sgd", no weight decay and no temperature.
    fr_rate : float
        alpha > 0 of the Fisher-Rao part: d|c_i|/dt = -alpha |c_i| (s_i V(theta_i) + lam)
        (geometry = "wfr" only).
    """

    method: str = "euler"
    dt: float = 0.05
    t_end: float = 1000.0
    rtol: float = 1e-8
    atol: float = 1e-10
    lr_c: float = 1.0
    lr_a: float = 1.0
    lr_b: float = 1.0
    weight_decay: float = 0.0
    stop_risk: Optional[float] = None
    stop_grad: Optional[float] = None
    chunk: int = 1000
    temperature: float = 0.0
    temperature_schedule: str = "constant"
    geometry: str = "wasserstein"
    fr_rate: float = 1.0

    def __post_init__(self):
        _check_choice("integrator.method", self.method, METHODS)
        for name in ("dt", "t_end", "rtol", "atol"):
            object.__setattr__(self, name, _check_float(f"integrator.{name}",
                                                        getattr(self, name), 0.0,
                                                        lo_open=True))
        for name in ("lr_c", "lr_a", "lr_b"):
            object.__setattr__(self, name, _check_float(f"integrator.{name}",
                                                        getattr(self, name), 0.0))
        if self.lr_c == self.lr_a == self.lr_b == 0:
            _fail("integrator.lr_c", self.lr_c, "a rate > 0 for at least one layer (all "
                  "three are 0: nothing would move)")
        object.__setattr__(self, "weight_decay",
                           _check_float("integrator.weight_decay", self.weight_decay, 0.0))
        for name in ("stop_risk", "stop_grad"):
            object.__setattr__(self, name, _check_float(f"integrator.{name}",
                                                        getattr(self, name), 0.0,
                                                        allow_none=True))
        _check_int("integrator.chunk", self.chunk, 1)
        object.__setattr__(self, "temperature",
                           _check_float("integrator.temperature", self.temperature, 0.0))
        _check_choice("integrator.temperature_schedule", self.temperature_schedule,
                      TEMPERATURE_SCHEDULES)
        if self.temperature > 0 and self.method not in NOISY_METHODS:
            _fail("integrator.temperature", self.temperature,
                  f"0 with integrator.method = {self.method!r}; a temperature > 0 needs "
                  "'euler' or 'sgd' (Euler-Maruyama): "
                  + ("Heun's second order does not carry over to the noise"
                     if self.method == "heun" else
                     "an accuracy-controlled method estimates a deterministic error, "
                     "which a Brownian path does not have"))
        if self.temperature_schedule != "constant" and self.temperature == 0:
            _fail("integrator.temperature_schedule", self.temperature_schedule,
                  "'constant' with integrator.temperature = 0 (nothing to anneal)")
        if self.method in FIXED_METHODS and self.dt > self.t_end:
            _fail("integrator.dt", self.dt, f"a step <= t_end = {self.t_end}")
        if self.method in FIXED_METHODS:
            _check_unused(self, ("rtol", "atol"), f"integrator.method = {self.method!r} (the "
                          "tolerances of the accuracy-controlled methods)")
        _check_choice("integrator.geometry", self.geometry, tuple(GEOMETRIES))
        object.__setattr__(self, "fr_rate", _check_float("integrator.fr_rate", self.fr_rate,
                                                         0.0, MAX_RATE, lo_open=True))
        if self.geometry == "wfr":
            if self.method not in ("euler", "sgd"):
                _fail("integrator.method", self.method, "'euler' or 'sgd' with integrator."
                      "geometry = 'wfr' (explicit steps with multiplicative mass updates)")
            if self.temperature > 0:
                _fail("integrator.temperature", self.temperature, "0 with integrator.geometry "
                      "= 'wfr' (the Langevin dynamics is a Wasserstein flow)")
            if self.weight_decay > 0:
                _fail("integrator.weight_decay", self.weight_decay, "0 with integrator."
                      "geometry = 'wfr' (a penalty on the masses is problem.reg)")
            _check_unused(self, ("lr_c",), "integrator.geometry = 'wfr' (masses move at "
                          "integrator.fr_rate)")
        else:
            _check_unused(self, ("fr_rate",), "integrator.geometry = 'wasserstein'")

    @property
    def n_steps(self) -> int:
        """Number of fixed steps to reach t_end."""
        return max(1, int(round(self.t_end / self.dt)))


@dataclass(frozen=True)
class RecordConfig(_Section):
    """When snapshots and observables are recorded.

    Attributes
    ----------
    schedule : {"log", "every", "times"}
        Log-spaced steps (default), every ``every`` steps, or at explicit ``times``.
    frames : int
        Number of particle snapshots for the log schedule (>= 2).
    every : int
        Period in steps for the "every" schedule (set with another schedule: refused).
    times : tuple of float
        Explicit times for the "times" schedule (increasing, in (0, t_end]; set with
        another schedule: refused).
    observables_factor : int
        Observables are recorded this many times more often than particles (>= 1).
    particles : {"schedule", "ends"}
        Snapshots of the particles at the schedule's times, or only at the start and the
        end (observables still follow the schedule; sweeps record what a figure needs).
    kernel_probes : int
        Size of the fixed probe set on which the drift of the tangent kernel,
        |K_t - K_0|_F / |K_0|_F, is recorded ("kernel_drift"); 0 disables it. Probes
        are inputs drawn from the problem's law (or the first training points of a
        data set).
    """

    schedule: str = "log"
    frames: int = 120
    every: int = 100
    times: Tuple[float, ...] = ()
    observables_factor: int = 4
    particles: str = "schedule"
    kernel_probes: int = 32

    def __post_init__(self):
        _check_choice("record.schedule", self.schedule, SCHEDULES)
        _check_int("record.frames", self.frames, 2)
        _check_int("record.every", self.every, 1)
        if not isinstance(self.times, (tuple, list)):
            raise TypeError(f"record.times must be a list of numbers, got {self.times!r}")
        ts = tuple(_check_float("record.times", t, 0.0, lo_open=True) for t in self.times)
        if any(b <= a for a, b in zip(ts, ts[1:])):
            _fail("record.times", list(ts), "strictly increasing times")
        if self.schedule == "times" and not ts:
            _fail("record.times", list(ts), "a non-empty list when schedule = 'times'")
        object.__setattr__(self, "times", ts)
        _check_int("record.observables_factor", self.observables_factor, 1)
        _check_choice("record.particles", self.particles, ("schedule", "ends"))
        _check_int("record.kernel_probes", self.kernel_probes, 0, 4096)
        if self.schedule != "every":
            _check_unused(self, ("every",), f"record.schedule = {self.schedule!r} (the "
                          "period of the 'every' schedule)")
        if self.schedule != "times":
            _check_unused(self, ("times",), f"record.schedule = {self.schedule!r} (the "
                          "times of the 'times' schedule)")


@dataclass(frozen=True)
class OutputConfig(_Section):
    """Where and how the trajectory is stored (HDF5).

    Attributes
    ----------
    path : str or None
        Output file; None: in memory only (library) or ``runs/<name>.h5`` (CLI).
    storage_dtype : {"float64", "float32"}
        Precision of the stored snapshots (the checkpoint is always full precision).
    compression : {"none", "gzip", "lzf"}
        HDF5 filter for snapshots.
    animate : bool
        Write an animation next to the file when the run ends (CLI).
    flush_seconds : float
        Records are written as they come and flushed (made visible to readers and
        safe from a kill, with a checkpoint) at most this often; 0 flushes at every
        record. A killed run loses at most this much work.
    """

    path: Optional[str] = None
    storage_dtype: str = "float64"
    compression: str = "none"
    animate: bool = True
    flush_seconds: float = 0.5

    def __post_init__(self):
        if self.path is not None and not isinstance(self.path, str):
            raise TypeError(f"output.path must be a string, got {self.path!r}")
        _check_choice("output.storage_dtype", self.storage_dtype, DTYPES)
        _check_choice("output.compression", self.compression, ("none", "gzip", "lzf"))
        _check_bool("output.animate", self.animate)
        object.__setattr__(self, "flush_seconds",
                           _check_float("output.flush_seconds", self.flush_seconds, 0.0))


@dataclass(frozen=True)
class Config(_Section):
    """A complete, validated run description.

    Cross-field rules (checked here): the exact oracle needs a teacher-student
    problem with the squared loss and a teacher with the student's activation;
    sphere inputs with the exact oracle need a bias-free relu/leaky_relu model;
    "sgd" goes with the online oracle and the online oracle only with "sgd";
    the dataset oracle goes with a dataset problem; a symmetric init needs an even m.

    Parameters
    ----------
    problem, network, init, oracle, integrator, record, output : sections
        :class:`ProblemConfig`, :class:`NetworkConfig`, :class:`InitConfig`,
        :class:`OracleConfig`, :class:`IntegratorConfig`, :class:`RecordConfig` and
        :class:`OutputConfig` (each with its defaults when omitted; docs/config.md).
    seed : int
        Root of every random stream (teacher, data, initialisation, noise, monitor).
    dtype : {"float64", "float32"}
        The particles' precision (risks accumulate in float64).
    threads : int
        Numba threads of the run (0: the cores this process may use).
    """

    problem: ProblemConfig = field(default_factory=ProblemConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    init: InitConfig = field(default_factory=InitConfig)
    oracle: OracleConfig = field(default_factory=OracleConfig)
    integrator: IntegratorConfig = field(default_factory=IntegratorConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    seed: int = 1
    dtype: str = "float64"
    threads: int = 0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("seed", "dtype", "threads"):
                continue
            if not isinstance(v, _SECTIONS[f.name]):
                raise TypeError(f"{f.name} must be a {_SECTIONS[f.name].__name__}, "
                                f"got {type(v).__name__}")
        _check_int("seed", self.seed, 0)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_int("threads", self.threads, 0, 4096)
        p, n, o, it = self.problem, self.network, self.oracle, self.integrator
        if p.kind == "deconvolution":
            self._check_deconvolution()
            return
        if self.init.scheme in ("grid", "uniform"):
            _fail("init.scheme", self.init.scheme, "'gaussian', 'sphere' or 'array' for a "
                  "network ('grid' and 'uniform' place masses on the torus: deconvolution)")
        if it.geometry == "wfr" and n.model == "tangent":
            _fail("network.model", n.model, "'full' with integrator.geometry = 'wfr' (the "
                  "tangent model is linear in its parameters: it has no masses to transport)")
        if o.kind == "exact":
            if p.kind != "teacher_student":
                _fail("oracle.kind", o.kind, "'dataset' for a dataset problem")
            why = exact_rule(p.inputs, p.loss, p.teacher_activation or n.activation,
                             p.teacher_bias, n.activation, n.bias)
            if why is not None:
                _fail(*why)
        if o.kind == "dataset" and p.kind != "dataset":
            _fail("oracle.kind", o.kind, "'exact', 'sampled' or 'online' for a "
                  "teacher-student problem")
        if p.kind == "dataset" and o.kind != "dataset":
            _fail("oracle.kind", o.kind, "'dataset' for a dataset problem")
        if (it.method == "sgd") != (o.kind == "online"):
            if it.method == "sgd":
                _fail("integrator.method", it.method,
                      "'euler', 'heun' or an ODE method unless oracle.kind = 'online'")
            _fail("integrator.method", it.method, "'sgd' with the online oracle")
        if n.model == "tangent" and o.kind == "exact":
            why = exact_tangent_rule(p.inputs, p.loss, p.teacher_activation or n.activation,
                                     p.teacher_bias, n.activation, n.bias)
            if why is not None:
                _fail(*why)
        if self.init.symmetric and n.m % 2:
            _fail("network.m", n.m, "an even number with init.symmetric = true")

    def _check_deconvolution(self):
        n, o, it, ini = self.network, self.oracle, self.integrator, self.init
        why = "problem.kind = 'deconvolution'"
        if o.kind != "exact":
            _fail("oracle.kind", o.kind, f"'exact' with {why} (closed forms)")
        _check_unused(n, ("activation", "bias", "alpha", "leak", "scaling", "model"),
                      f"{why} (the particles are a measure, not neurons)")
        if ini.scheme not in TORUS_SCHEMES:
            _fail("init.scheme", ini.scheme, f"'grid', 'uniform' or 'array' with {why}")
        if ini.symmetric and n.m % 2:
            _fail("network.m", n.m, "an even number with init.symmetric = true")
        if it.method != "euler":
            _fail("integrator.method", it.method, f"'euler' with {why} (explicit steps with "
                  "a proximal or multiplicative treatment of the penalty)")
        if it.temperature > 0:
            _fail("integrator.temperature", it.temperature, f"0 with {why}")
        if it.weight_decay > 0:
            _fail("integrator.weight_decay", it.weight_decay, f"0 with {why} (the penalty is "
                  "problem.reg)")


_SECTIONS = {
    "problem": ProblemConfig,
    "network": NetworkConfig,
    "init": InitConfig,
    "oracle": OracleConfig,
    "integrator": IntegratorConfig,
    "record": RecordConfig,
    "output": OutputConfig,
}

