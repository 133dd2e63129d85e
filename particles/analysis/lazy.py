"""The lazy (kernel) regime: tangent kernels, their infinite-width limits, kernel
regression and the lazy/mean-field diagnostics.

The network is f(x) = (alpha_eff / m) sum_i c_i sigma(a_i . x + b_i) (see
:attr:`particles.NetworkConfig.effective_alpha` for the three scalings). Its tangent
kernel is the Gram matrix of the parameter gradients,

    K(x, x') = sum_i grad_{theta_i} f(x) . grad_{theta_i} f(x')
             = s^2 sum_i [ sigma(z_i) sigma(z'_i) + c_i^2 sigma'(z_i) sigma'(z'_i) (x . x' + 1_bias) ]

with s = alpha_eff / m and z_i = a_i . x + b_i. Along the library's flow (mean-field
time, per-layer rates lr) the outputs move as df(x)/dt = -(m / alpha_eff^2)
E_x'[K_lr(x, x') l'(f(x'), y(x'))], where K_lr weights each layer's term by its
rate: :func:`flow_kernel` returns (m / alpha_eff^2) K_lr, the kernel whose gradient
flow (:func:`kernel_flow`) a tangent-model run follows exactly. docs/lazy.md has the
derivations and the conventions.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..model.network import (KERNEL_ACTIVATIONS, _effective_alpha, _features,  # noqa: F401
                             _inputs, _rates, gauss_pair, empirical_ntk, flow_kernel)

def expected_ntk(x1, x2=None, *, m, activation="relu", bias=False, alpha=1.0,
                 scaling="mean_field", leak=0.01, tau=1.0, tau_c=None, tau_a=None, tau_b=None,
                 lr=(1.0, 1.0, 1.0)):
    """Expectation of :func:`empirical_ntk` over i.i.d. Gaussian initial particles.

    The particles are those of ``init.scheme = "gaussian"``: c ~ N(0, tau_c^2),
    a ~ N(0, tau_a^2 I_d), b ~ N(0, tau_b^2) (b = 0 without bias); the symmetric
    initialisation has the same expectation. With u = a . x + b, v = a . x' + b,

        E K(x, x') = (alpha_eff^2 / m) [ lr_c E sigma(u) sigma(v)
                                         + tau_c^2 E sigma'(u) sigma'(v) (lr_a x . x' + lr_b 1_bias) ]

    in closed form for relu, leaky_relu (arc-cosine kernels) and erf (Williams 1997).

    Parameters
    ----------
    x1 : array_like, shape (n1, d)
    x2 : array_like, shape (n2, d), optional
    m : int
        Number of particles (the scalings make the kernel depend on it).
    activation, bias, alpha, scaling, leak
        The network.
    tau, tau_c, tau_a, tau_b : float
        Initial scales, as in :class:`particles.InitConfig`.
    lr : sequence of 3 floats

    Returns
    -------
    ndarray, shape (n1, n2)
    """
    x1 = _inputs("x1", x1)
    x2 = x1 if x2 is None else _inputs("x2", x2, x1.shape[1])
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m={m!r} is invalid; allowed: an integer >= 1")
    lc, la, lb = _rates(lr)
    tc, ta, tb = (tau if t is None else t for t in (tau_c, tau_a, tau_b))
    for name, t in (("tau", tau), ("tau_c", tc), ("tau_a", ta), ("tau_b", tb)):
        if not (isinstance(t, (int, float, np.floating, np.integer)) and math.isfinite(t)
                and t >= 0):
            raise ValueError(f"{name}={t!r} is invalid; allowed: a finite number >= 0")
    tb2 = tb * tb if bias else 0.0
    dot = x1 @ x2.T
    s11 = ta * ta * np.sum(x1 * x1, axis=1)[:, None] + tb2
    s22 = ta * ta * np.sum(x2 * x2, axis=1)[None, :] + tb2
    e_ss, e_dd = gauss_pair(activation, s11, s22, ta * ta * dot + tb2, leak)
    ae = _effective_alpha(alpha, scaling, m)
    return (ae * ae / m) * (lc * e_ss + tc * tc * e_dd * (la * dot + (lb if bias else 0.0)))


def infinite_kernels(x1, x2=None, *, activation="relu", depth=1, w_std=1.0, b_std=0.0,
                     leak=0.01):
    """Infinite-width NNGP and NTK of a fully connected network.

    Conventions of neural-tangents' ``stax`` with its default "ntk" parameterisation:
    the network is ``depth`` hidden layers of width -> infinity, each
    z = (w_std / sqrt(fan_in)) W h + b_std beta with W, beta ~ N(0, 1), then the
    activation, and a linear output layer with the same w_std and b_std. The input
    covariance is x . x' / d. The recursion, from Sigma_0 = w_std^2 x . x' / d + b_std^2
    and Theta_0 = Sigma_0, is per hidden layer

        Sigma <- w_std^2 E[sigma(u) sigma(v)] + b_std^2
        Theta <- Sigma + w_std^2 E[sigma'(u) sigma'(v)] Theta

    with (u, v) centred Gaussian of the previous layer's covariances (docs/lazy.md).

    Parameters
    ----------
    x1 : array_like, shape (n1, d)
    x2 : array_like, shape (n2, d), optional
    activation : {"relu", "leaky_relu", "erf"}
    depth : int
        Number of hidden layers (>= 1).
    w_std, b_std : float
        Weight and bias standard deviations (b_std = 0: no biases).
    leak : float
        Negative-side slope of leaky_relu.

    Returns
    -------
    nngp, ntk : ndarray, shape (n1, n2)

    Examples
    --------
    >>> import numpy as np
    >>> from particles.lazy import infinite_kernels
    >>> x = np.eye(2)
    >>> nngp, ntk = infinite_kernels(x, depth=1)
    >>> np.round(nngp, 6).tolist()   # relu: 1/4 on the diagonal, 1/(4 pi) off it
    [[0.25, 0.079577], [0.079577, 0.25]]
    """
    x1 = _inputs("x1", x1)
    x2 = x1 if x2 is None else _inputs("x2", x2, x1.shape[1])
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth={depth!r} is invalid; allowed: an integer >= 1")
    for name, v in (("w_std", w_std), ("b_std", b_std)):
        if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v)
                and v >= 0):
            raise ValueError(f"{name}={v!r} is invalid; allowed: a finite number >= 0")
    if activation not in KERNEL_ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is invalid; allowed: "
                         f"{', '.join(KERNEL_ACTIVATIONS)}")
    d = x1.shape[1]
    w2, b2 = float(w_std) ** 2, float(b_std) ** 2
    nngp = w2 * (x1 @ x2.T) / d + b2
    v1 = w2 * np.sum(x1 * x1, axis=1) / d + b2
    v2 = w2 * np.sum(x2 * x2, axis=1) / d + b2
    ntk = nngp.copy()
    for _ in range(depth):
        e_ss, e_dd = gauss_pair(activation, v1[:, None], v2[None, :], nngp, leak)
        d1 = gauss_pair(activation, v1, v1, v1, leak)[0]
        d2 = gauss_pair(activation, v2, v2, v2, leak)[0]
        nngp = w2 * e_ss + b2
        ntk = nngp + w2 * e_dd * ntk
        v1, v2 = w2 * d1 + b2, w2 * d2 + b2
    return nngp, ntk


def _regression(K, y, K_test=None):
    """Checked (K symmetrised, y, eigenvalues and eigenvectors of K, K_test): eigenvalues
    below roundoff are set to 0; K_test is None or (n_test, n)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or y.shape[0] < 1:
        raise ValueError(f"y has shape {y.shape}; allowed: (n,) with n >= 1")
    n = y.shape[0]
    K = _square_kernel(K, n)
    if K_test is not None:
        K_test = np.asarray(K_test, dtype=np.float64)
        if K_test.ndim != 2 or K_test.shape[1] != n:
            raise ValueError(f"K_test has shape {K_test.shape}; allowed: (n_test, {n})")
    lam, V = np.linalg.eigh(K)
    lam = np.where(lam > n * np.finfo(float).eps * max(1.0, abs(lam).max()), lam, 0.0)
    return K, y, lam, V, K_test


def _square_kernel(K, n=None):
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 1:
        raise ValueError(f"K has shape {K.shape}; allowed: (n, n)")
    if not np.all(np.isfinite(K)):
        raise ValueError("K contains NaN or Inf; allowed: finite values only")
    if n is not None and K.shape[0] != n:
        raise ValueError(f"K has shape {K.shape}; allowed: ({n}, {n}) to match y")
    return 0.5 * (K + K.T)


def _vector(name, v, n):
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{name} has shape {v.shape}; allowed: ({n},)")
    return v


def kernel_flow(K, y, times, *, f0=None, K_test=None, f0_test=None):
    """Gradient flow of the squared loss (1/2n) |f - y|^2 in the kernel's function space.

    On the n training points df/dt = -(1/n) K (f - y); a test point follows
    df(x)/dt = -(1/n) K(x, X) (f - y). Solved in closed form through the
    eigendecomposition K = V diag(lambda) V^T:

        f(t) - y = V exp(-t lambda / n) V^T (f0 - y)
        f_test(t) = f0_test - K_test V diag((1 - exp(-t lambda / n)) / lambda) V^T (f0 - y)

    (the factor is t / n for lambda = 0; eigenvalues below roundoff count as 0).

    Parameters
    ----------
    K : array_like, shape (n, n)
        Kernel on the training points (e.g. :func:`flow_kernel` for a tangent run).
    y : array_like, shape (n,)
    times : array_like, shape (T,)
        Times >= 0.
    f0 : array_like, shape (n,), optional
        Initial outputs on the training points (default 0).
    K_test : array_like, shape (n_test, n), optional
    f0_test : array_like, shape (n_test,), optional

    Returns
    -------
    f_train : ndarray, shape (T, n)
    f_test : ndarray, shape (T, n_test) or None
    """
    _, y, lam, V, K_test = _regression(K, y, K_test)
    n = y.shape[0]
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError(f"times={times!r} is invalid; allowed: finite times >= 0")
    f0 = np.zeros(n) if f0 is None else _vector("f0", f0, n)
    r0 = V.T @ (f0 - y)
    rate = lam / n
    decay = np.exp(-np.outer(times, rate))
    f_train = y + (decay * r0) @ V.T
    if K_test is None:
        return f_train, None
    f0_test = (np.zeros(K_test.shape[0]) if f0_test is None
               else _vector("f0_test", f0_test, K_test.shape[0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        integral = np.where(rate > 0, -np.expm1(-np.outer(times, rate)) / np.where(
            rate > 0, lam, 1.0), times[:, None] / n)
    f_test = f0_test - (integral * r0) @ (K_test @ V).T
    return f_train, f_test


def kernel_ridge(K, y, ridge=0.0, *, K_test=None):
    """Kernel ridge regression, or the minimum-norm interpolant when ``ridge = 0``.

    Coefficients w = (K + n ridge I)^+ y (pseudo-inverse through the eigendecomposition,
    eigenvalues below roundoff dropped): the limit t -> infinity of :func:`kernel_flow`
    from f0 = 0 when ``ridge = 0``.

    Parameters
    ----------
    K : array_like, shape (n, n)
    y : array_like, shape (n,)
    ridge : float
        lambda >= 0 of the objective (1/2n) |f - y|^2 + (lambda/2) |f|_K^2.
    K_test : array_like, shape (n_test, n), optional

    Returns
    -------
    f_train : ndarray, shape (n,)
    f_test : ndarray, shape (n_test,) or None
    """
    if not (isinstance(ridge, (int, float, np.floating, np.integer)) and math.isfinite(ridge)
            and ridge >= 0):
        raise ValueError(f"ridge={ridge!r} is invalid; allowed: a finite number >= 0")
    K, y, lam, V, K_test = _regression(K, y, K_test)
    shifted = lam + y.shape[0] * ridge
    inv = np.where(shifted > 0, 1.0 / np.where(shifted > 0, shifted, 1.0), 0.0)
    w = V @ (inv * (V.T @ y))
    return K @ w, None if K_test is None else K_test @ w


def twin_path(path):
    """The file of a run's tangent twin: ``RUN.h5`` -> ``RUN-tangent.h5``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
    """
    root, ext = os.path.splitext(os.fspath(path))
    return f"{root}-tangent{ext or '.h5'}"


def predictor_gap(frames, twin_frames, x, *, activation="relu", bias=False, alpha=1.0,
                  scaling="mean_field", leak=0.01, theta0=None):
    """Root-mean-square gap between a network and its tangent twin on inputs ``x``.

    Parameters
    ----------
    frames, twin_frames : array_like, shape (T, m, d + 2)
        Particles of the full model and of the tangent model at the same times.
    x : array_like, shape (n, d)
    activation, bias, alpha, scaling, leak
        The network.
    theta0 : array_like, shape (m, d + 2), optional
        The linearisation point (default: ``twin_frames[0]``).

    Returns
    -------
    ndarray, shape (T,)
        sqrt(mean_k (f(x_k; theta_t) - f_bar(x_k; theta_bar_t))^2).
    """
    frames = np.asarray(frames, dtype=np.float64)
    twin = np.asarray(twin_frames, dtype=np.float64)
    if frames.ndim != 3 or frames.shape != twin.shape:
        raise ValueError(f"frames have shapes {frames.shape} and {twin.shape}; allowed: two "
                         "(T, m, d + 2) arrays of one shape")
    m, d = frames.shape[1], frames.shape[2] - 2
    x = _inputs("x", x, d)
    theta0 = twin[0] if theta0 is None else np.asarray(theta0, dtype=np.float64)
    s = _effective_alpha(alpha, scaling, m) / m
    b0 = theta0[:, d + 1] if bias else 0.0
    S0, G0 = _features(activation, x @ theta0[:, 1:d + 1].T + b0, leak)
    G0 = G0 * theta0[:, 0]
    gaps = np.empty(frames.shape[0])
    for t in range(frames.shape[0]):
        th, tw = frames[t], twin[t]
        S, _ = _features(activation, x @ th[:, 1:d + 1].T + (th[:, d + 1] if bias else 0.0),
                         leak)
        delta = x @ (tw[:, 1:d + 1] - theta0[:, 1:d + 1]).T
        if bias:
            delta += tw[:, d + 1] - theta0[:, d + 1]
        f_full = s * (S @ th[:, 0])
        f_lin = s * (S0 @ tw[:, 0] + (G0 * delta).sum(axis=1))
        gaps[t] = math.sqrt(float(np.mean((f_full - f_lin) ** 2)))
    return gaps


def run_twin(config=None, path=None, *, theta=None, problem=None, progress=None,
             overwrite=False):
    """Run a model and its tangent twin from the same initial particles; store both.

    The full model is written to ``path`` and the tangent model (``network.model =
    "tangent"``, everything else equal) to :func:`twin_path` of it. The gap between the
    two predictors on the run's probe inputs (``record.kernel_probes``, at least 32
    points) at every frame is written into both files (group ``/lazy/twin``) and
    returned; ``particles plot RUN.h5 --kind lazy`` draws it.

    Parameters
    ----------
    config : particles.Config, optional
        With ``network.model = "full"`` and a sample-based oracle.
    path : str, optional
        Output of the full model (default ``config.output.path``).
    theta, problem, progress, overwrite
        As for :func:`particles.run`.

    Returns
    -------
    full, tangent : particles.Result
    gap : dict
        ``times`` (T,) and ``gap`` (T,), plus ``path`` and ``twin_path``.
    """
    from ..config import Config
    from ..io.annotate import annotate
    from ..dynamics.runner import run
    from ..dynamics.simulation import Simulation, probe_inputs

    config = Config() if config is None else config
    if config.network.model != "full":
        raise ValueError(f"network.model={config.network.model!r} is invalid for run_twin; "
                         "allowed: 'full' (the twin is the tangent model)")
    path = path or config.output.path
    if not path:
        raise ValueError("path is required (or set output.path in the config)")
    twin_cfg = config.replace(network=config.network.replace(model="tangent"))
    sim = Simulation(config, theta=theta, problem=problem)
    twin = Simulation(twin_cfg, theta=sim.theta0 if theta is not None else None,
                      problem=problem)
    if not np.array_equal(twin.theta0, sim.theta0):  # same seeds: same start
        raise RuntimeError("the tangent twin did not start from the model's particles")
    full = run(simulation=sim, path=path, progress=progress, overwrite=overwrite, keep=True)
    lin = run(simulation=twin, path=twin_path(path), progress=progress, overwrite=overwrite,
              keep=True)
    times, i_full, i_lin = np.intersect1d(full.frame_steps, lin.frame_steps,
                                          return_indices=True)
    net = sim.config.network
    probes = probe_inputs(sim.config.replace(record=sim.config.record.replace(
        kernel_probes=max(32, sim.config.record.kernel_probes))), sim.problem)
    gap = predictor_gap(full.frames[i_full], lin.frames[i_lin], probes,
                        activation=net.activation, bias=net.bias,
                        alpha=net.effective_alpha, leak=net.leak, theta0=sim.theta0)
    t = full.frame_times[i_full]
    report = {"path": os.fspath(path), "twin_path": twin_path(path),
              "probes": int(probes.shape[0]), "final_gap": float(gap[-1])}
    for p in (path, twin_path(path)):
        annotate(p, "twin", report, {"times": t, "gap": gap}, group="lazy")
    return full, lin, dict(report, times=t, gap=gap)


def run_criterion(run, n=256, seed=0, **options):
    """kappa(w0) of a run file's initial particles on ``n`` fresh probe inputs.

    For files that did not record it (``record.kernel_probes = 0``, or written before
    version 0.3) and for figures that compare runs on one probe set.

    Parameters
    ----------
    run : particles.io.Run
    n : int
        Probe inputs: the first n training points of a data set, else draws from the
        input law (``numpy.random.default_rng(seed)``), labelled by the teacher.
    seed : int
    **options
        Passed to :func:`particles.model.criterion.criterion` (restarts, tol, maxiter).

    Returns
    -------
    LazyCriterion
    """
    return config_criterion(run.config, run.problem(), run.theta0, n=n, seed=seed, **options)


def config_criterion(cfg, problem, theta0, n=256, seed=0, **options):
    """kappa(w0) of initial particles ``theta0`` of the run ``cfg`` on ``problem``, on
    ``n`` fresh probe inputs (as :func:`run_criterion`, without a file).

    Parameters
    ----------
    cfg : particles.Config
    problem : particles.Problem
    theta0 : ndarray, shape (m, d + 2)
    n, seed, **options
        As for :func:`run_criterion`.

    Returns
    -------
    LazyCriterion
    """
    from ..model.criterion import criterion
    from ..model.problems import sample_inputs

    if problem.X is not None:
        x = np.ascontiguousarray(problem.X[:n], dtype=np.float64)
        y = np.asarray(problem.y[:n], dtype=np.float64)
    else:
        x = sample_inputs(np.random.default_rng(seed), n, problem.d, problem.inputs)
        y = problem.labels(x)
    net, ic = cfg.network, cfg.integrator
    return criterion(theta0, x, y, activation=net.activation, bias=net.bias,
                     alpha=net.alpha, scaling=net.scaling, leak=net.leak,
                     lr=(ic.lr_c, ic.lr_a, ic.lr_b), seed=seed, **options)
