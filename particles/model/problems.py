"""Learning problems: input laws, teacher networks and data sets.

A :class:`Problem` holds what the oracles need: the input dimension and law, the
loss, and either a teacher network (teacher-student) or arrays (data set). Teacher
output is f*(x) = sum_l c*_l sigma*(a*_l . x + b*_l) (no 1/m0 factor, see
docs/theory.md, "Model").
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._checks import _check_int
from ..registry import activation_code
from ..config import INPUTS, LOSSES, TEACHER_OUTPUTS, ConfigError


@dataclass(frozen=True, eq=False)
class Problem:
    """A learning problem.

    Attributes
    ----------
    d : int
        Input dimension.
    inputs : {"gaussian", "sphere"}
        Input law (teacher-student).
    loss : {"squared", "logistic"}
    teacher : ndarray, shape (m0, d + 2) or None
        Teacher neurons (c* | a* | b*).
    teacher_activation : str or None
    teacher_bias : bool
    leak : float
        Negative-side slope when the teacher is a leaky ReLU (the student's slope).
    X, y : ndarray, shapes (n, d) and (n,), or None
        Training data (data-set problems).
    X_test, y_test : ndarray or None
        Held-out data.
    """

    d: int
    inputs: str = "gaussian"
    loss: str = "squared"
    teacher: Optional[np.ndarray] = None
    teacher_activation: Optional[str] = None
    teacher_bias: bool = False
    leak: float = 0.01
    X: Optional[np.ndarray] = None
    y: Optional[np.ndarray] = None
    X_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None

    def __post_init__(self):
        # compiled kernels index these arrays by d and m0: check them once, here
        _check_int("d", self.d, 1)
        if self.teacher is not None:
            t = np.asarray(self.teacher)
            if t.ndim != 2 or t.shape[1] != self.d + 2 or t.shape[0] < 1:
                raise ValueError(f"teacher has shape {t.shape}; allowed: (m0, d + 2) = "
                                 f"(m0, {self.d + 2}) with m0 >= 1")
            if not np.all(np.isfinite(t)):
                raise ValueError("teacher contains NaN or Inf; allowed: finite values only")
            activation_code(self.teacher_activation)
        for xs, ys in (("X", "y"), ("X_test", "y_test")):
            X, y = getattr(self, xs), getattr(self, ys)
            if X is None and y is None:
                continue
            X, y = np.asarray(X), np.asarray(y)
            if X.ndim != 2 or X.shape[1] != self.d or y.shape != (X.shape[0],):
                raise ValueError(f"{xs} has shape {X.shape} and {ys} {y.shape}; allowed: "
                                 f"(n, {self.d}) and (n,)")
        if self.teacher is None and self.X is None:
            raise ValueError("a Problem needs a teacher or a data set (X, y)")

    @property
    def is_dataset(self):
        return self.X is not None

    def labels(self, X):
        """Teacher labels: f*(x), or sign(f*(x)) for the logistic loss.

        Parameters
        ----------
        X : ndarray, shape (n, d)
            Inputs.

        Returns
        -------
        ndarray, shape (n,)
        """
        from ..kernels.network import forward

        if self.teacher is None:
            raise ValueError("labels need a teacher; a data-set problem has its labels in y")
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X has shape {X.shape}; allowed: (n, {self.d})")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or Inf; allowed: finite values only")
        out = np.empty(X.shape[0])
        forward(self.teacher, X, activation_code(self.teacher_activation), self.leak,
                self.teacher_bias, 1.0, out)
        if self.loss == "logistic":
            out = np.where(out >= 0, 1.0, -1.0)
        return out


def sample_inputs(rng, n, d, inputs="gaussian"):
    """n inputs from N(0, I_d) or uniform on S^(d-1).

    Parameters
    ----------
    rng : numpy.random.Generator
    n, d : int
        Number of inputs (>= 0) and dimension (>= 1).
    inputs : {"gaussian", "sphere"}

    Returns
    -------
    ndarray, shape (n, d), float64
    """
    from .._checks import _check_choice, _check_int, _check_rng

    _check_rng("rng", rng)
    n, d = _check_int("n", n, 0), _check_int("d", d, 1)
    _check_choice("inputs", inputs, ("gaussian", "sphere"))
    X = rng.standard_normal((n, d))
    if inputs == "sphere":
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def random_teacher(rng, d, m0, output="sign", bias=False, scale=1.0):
    """Teacher neurons: unit-norm a*_l, c*_l by ``output`` times ``scale``, b*_l ~ N(0, 1)
    if ``bias``.

    Parameters
    ----------
    rng : numpy.random.Generator
    d, m0 : int
        Input dimension and number of teacher neurons (>= 1).
    output : {"sign", "random_sign", "gaussian", "ones"}
        Output weights: alternating +-1, i.i.d. +-1, N(0, 1), or all 1.
    bias : bool
        Draw biases b*_l ~ N(0, 1) (otherwise 0).
    scale : float
        Factor on the output weights (> 0).

    Returns
    -------
    ndarray, shape (m0, d + 2)
    """
    from .._checks import _check_float, _check_int, _check_rng

    if output not in TEACHER_OUTPUTS:
        raise ValueError(f"teacher_output={output!r} is invalid; allowed: "
                         f"{', '.join(TEACHER_OUTPUTS)}")
    _check_rng("rng", rng)
    d, m0 = _check_int("d", d, 1), _check_int("m0", m0, 1)
    scale = _check_float("scale", scale, 0.0, lo_open=True)
    t = np.zeros((m0, d + 2))
    a = rng.standard_normal((m0, d))
    t[:, 1:d + 1] = a / np.linalg.norm(a, axis=1, keepdims=True)
    if output == "sign":
        t[:, 0] = np.where(np.arange(m0) % 2 == 0, 1.0, -1.0)
    elif output == "random_sign":
        t[:, 0] = np.where(rng.random(m0) < 0.5, -1.0, 1.0)
    elif output == "gaussian":
        t[:, 0] = rng.standard_normal(m0)
    else:
        t[:, 0] = 1.0
    if bias:
        t[:, d + 1] = rng.standard_normal(m0)
    t[:, 0] *= scale
    return t


def teacher_student(d, m0=3, *, activation="relu", bias=False, inputs="gaussian",
                    loss="squared", output="sign", teacher=None, rng=None, leak=0.01,
                    scale=1.0):
    """Teacher-student problem.

    Parameters
    ----------
    d, m0 : int
        Input dimension and teacher width.
    activation : str
        Teacher activation.
    bias : bool
        Teacher biases.
    inputs : {"gaussian", "sphere"}
    loss : {"squared", "logistic"}
    output : {"sign", "random_sign", "gaussian", "ones"}
        Teacher output weights (random teacher).
    scale : float
        Factor on a random teacher's output weights.
    teacher : array_like, shape (m0, d + 2), optional
        Given teacher neurons (then ``m0``, ``output`` and ``rng`` are not used).
    rng : numpy.random.Generator
        Required for a random teacher.
    leak : float
        Slope of a leaky-ReLU teacher for z < 0 (use the student's ``leak``).

    Returns
    -------
    Problem
    """
    from .._checks import _check_int

    d = _check_int("d", d, 1)
    activation_code(activation)
    if inputs not in INPUTS:
        raise ValueError(f"inputs={inputs!r} is invalid; allowed: {', '.join(INPUTS)}")
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is invalid; allowed: {', '.join(LOSSES)}")
    if teacher is None:
        if rng is None:
            raise ValueError("rng is required for a random teacher (pass a numpy Generator)")
        teacher = random_teacher(rng, d, m0, output, bias, scale)
    else:
        teacher = _check_array("teacher", teacher, ("m0", d + 2))
        if not bias:
            teacher[:, d + 1] = 0.0
    return Problem(d=d, inputs=inputs, loss=loss, teacher=teacher,
                   teacher_activation=activation, teacher_bias=bias, leak=float(leak))


def _check_array(name, value, shape):
    # shape: ints, or names ("n", "m0", "d") for sizes that may be anything
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.ndim != len(shape) or any(not isinstance(s, str) and s != t
                                     for s, t in zip(shape, arr.shape)):
        want = "(" + ", ".join(str(s) for s in shape) + ")"
        raise ValueError(f"{name} has shape {arr.shape}; allowed: an array of shape {want}")
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} contains NaN or Inf (first at index {bad}); "
                         "allowed: finite values only")
    return np.ascontiguousarray(arr)


def dataset(X, y, X_test=None, y_test=None, *, loss="squared"):
    """Data-set problem from user arrays (empirical risk; test risk reported apart).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Targets; in {-1, +1} for the logistic loss.
    X_test, y_test : array_like, shapes (n_test, d) and (n_test,), optional
    loss : {"squared", "logistic"}
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is invalid; allowed: {', '.join(LOSSES)}")
    X = _check_array("X", X, ("n", "d"))
    y = _check_array("y", y, (X.shape[0],))
    if X.shape[0] < 1:
        raise ValueError("X has 0 rows; allowed: at least one sample")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test = _check_array("X_test", X_test, ("n_test", X.shape[1]))
        y_test = _check_array("y_test", y_test, (X_test.shape[0],))
    if loss == "logistic":
        for name, arr in (("y", y), ("y_test", y_test)):
            if arr is not None and not np.all(np.isin(arr, (-1.0, 1.0))):
                raise ValueError(f"{name} has values other than -1 and +1; allowed with "
                                 "the logistic loss: labels in {-1, +1}")
    return Problem(d=X.shape[1], loss=loss, X=X, y=y, X_test=X_test, y_test=y_test)


def from_config(pc, network, seed):
    """Build the Problem described by a :class:`~particles.config.ProblemConfig`.

    The teacher is drawn from the stream "teacher" of ``pc.seed`` (the run ``seed``
    when None).
    """
    from .rng import stream

    if pc.kind == "deconvolution":
        from . import deconvolution

        return deconvolution.from_config(pc, seed)
    if pc.kind == "dataset":
        path = pc.data
        if path is None:
            raise ConfigError("problem.data=None is invalid without a data set passed from "
                              "Python; allowed: the path of an .npz file with arrays X, y, "
                              "or problem=particles.dataset(X, y)")
        if not os.path.isfile(path):
            raise ConfigError(f"problem.data={path!r} does not exist; allowed: an .npz "
                              "file with arrays X, y (and optionally X_test, y_test)")
        import zipfile

        allowed = "allowed: an .npz file with arrays X, y (and optionally X_test, y_test)"
        try:
            f = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"problem.data={path!r} cannot be read ({reason}); "
                              f"{allowed}") from None
        if not isinstance(f, np.lib.npyio.NpzFile):  # a .npy array
            raise ConfigError(f"problem.data={path!r} is a .npy array; {allowed}")
        with f:
            keys = set(f.files)
            if not {"X", "y"} <= keys:
                raise ConfigError(f"problem.data={path!r} lacks arrays X and y "
                                  f"(has {sorted(keys)})")
            try:
                arrays = {k: f[k] for k in ("X", "y", "X_test", "y_test") if k in keys}
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ConfigError(f"problem.data={path!r} cannot be read ({reason}); "
                                  f"{allowed}") from None
        prob = dataset(arrays["X"], arrays["y"], arrays.get("X_test"), arrays.get("y_test"),
                       loss=pc.loss)
        if prob.d != pc.d:
            raise ConfigError(f"problem.d={pc.d} but the data set has d = {prob.d}")
        return prob
    return teacher_student(pc.d, pc.m0, activation=pc.teacher_activation or network.activation,
                           bias=pc.teacher_bias, inputs=pc.inputs, loss=pc.loss,
                           output=pc.teacher_output, scale=pc.teacher_scale,
                           rng=stream(seed if pc.seed is None else pc.seed, "teacher"),
                           leak=network.leak)


def check_against(config, problem):
    """Raise ConfigError unless ``problem`` is the problem that ``config`` describes.

    Checked: kind, dimension, input law, loss, teacher activation (and leak), and
    that the oracle kind applies. Teacher width and bias are taken from the problem
    (see :func:`resolve_config`).
    """
    pc, net, kind = config.problem, config.network, config.oracle.kind

    def fail(key, value, allowed):
        raise ConfigError(f"{key}={value!r} does not match the problem passed from Python; "
                          f"allowed: {allowed}")

    from .deconvolution import Deconvolution

    if isinstance(problem, Deconvolution):
        if pc.kind != "deconvolution":
            fail("problem.kind", pc.kind, "'deconvolution' for a deconvolution problem")
        if pc.d != 1:
            fail("problem.d", pc.d, "1, the torus")
        return
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a particles.Problem or a deconvolution problem, "
                        f"got {type(problem).__name__}")
    if pc.kind == "deconvolution":
        fail("problem.kind", pc.kind, f"{'dataset' if problem.is_dataset else 'teacher_student'!r}"
             " for this problem (a deconvolution needs particles.deconvolution(...))")
    if problem.d != pc.d:
        fail("problem.d", pc.d, f"{problem.d}, its input dimension")
    if problem.loss != pc.loss:
        fail("problem.loss", pc.loss, f"{problem.loss!r}, its loss")
    if problem.is_dataset:
        if pc.kind != "dataset":
            fail("problem.kind", pc.kind, "'dataset' for a data set")
        if kind != "dataset":
            fail("oracle.kind", kind, "'dataset' for a data set")
        return
    if pc.kind != "teacher_student":
        fail("problem.kind", pc.kind, "'teacher_student' for a teacher network")
    if kind == "dataset":
        fail("oracle.kind", kind, "'exact', 'sampled' or 'online' for a teacher network")
    if problem.inputs != pc.inputs:
        fail("problem.inputs", pc.inputs, f"{problem.inputs!r}, its input law")
    tact = pc.teacher_activation or net.activation
    if problem.teacher_activation != tact:
        fail("problem.teacher_activation", tact,
             f"{problem.teacher_activation!r}, its teacher's activation")
    if tact == "leaky_relu" and problem.leak != net.leak:
        fail("network.leak", net.leak, f"{problem.leak!r}, its teacher's slope")


def resolve_config(config, problem, theta_given):
    """``config`` rewritten to say what runs: teacher width and bias of ``problem``
    (a teacher-student problem), and init.scheme = "array" when theta was given."""
    pc = config.problem
    if getattr(problem, "kind", None) == "deconvolution":
        pc = pc.replace(m0=problem.m0, cutoff=problem.cutoff, noise=problem.noise,
                        reg=problem.reg, spikes=tuple(map(tuple, problem.spikes.tolist())))
    elif not problem.is_dataset:
        pc = pc.replace(m0=int(problem.teacher.shape[0]), teacher_bias=bool(problem.teacher_bias))
    init = config.init
    if theta_given and init.scheme != "array":
        init = init.replace(scheme="array")
    return config.replace(problem=pc, init=init)


def to_attrs(problem, origin):
    """JSON-friendly description of ``problem`` (its arrays are stored apart)."""
    if getattr(problem, "kind", None) == "deconvolution":
        from . import deconvolution

        return deconvolution.to_attrs(problem, origin)
    return {"kind": "dataset" if problem.is_dataset else "teacher_student", "d": problem.d,
            "inputs": problem.inputs, "loss": problem.loss,
            "teacher_activation": problem.teacher_activation,
            "teacher_bias": bool(problem.teacher_bias), "leak": float(problem.leak),
            "origin": origin}


def from_attrs(attrs, teacher=None, data=None):
    """The Problem stored by :func:`to_attrs` with its teacher or data arrays."""
    if attrs["kind"] == "deconvolution":
        from . import deconvolution

        return deconvolution.from_attrs(attrs)
    if attrs["kind"] == "dataset":
        return dataset(data["X"], data["y"], data.get("X_test"), data.get("y_test"),
                       loss=attrs["loss"])
    return teacher_student(attrs["d"], teacher.shape[0], activation=attrs["teacher_activation"],
                           bias=attrs["teacher_bias"], inputs=attrs["inputs"],
                           loss=attrs["loss"], teacher=teacher, leak=attrs["leak"])
