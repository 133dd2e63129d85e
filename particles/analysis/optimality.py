"""Optimality: polish a state to machine precision, classify the critical point it
reached, and certify global optimality over measures.

Polish minimises the objective the flow descends,

    J(theta) = R(f) / alpha^2 + (lambda / (2 m)) sum_i |theta_i|^2,

over the free coordinates (layers with a zero learning rate, and the b column of a
bias-free model, stay fixed), with SciPy's L-BFGS or a Newton trust-region method
(``trust-krylov``). Its gradient is the oracle's: dJ/dtheta_i = -(v_i - lambda theta_i)/m.
Hessian-vector products are central differences of that gradient (no oracle has
second derivatives in closed form), with a step of eps^(1/3) relative to the state.

The certificate is the mean-field optimality condition for the squared loss, which is
convex in the measure of particles: a measure is a global minimiser (with free mass)
when no new neuron decreases the risk to first order, that is when

    value = sup over unit (a, b) of |E[(f(x) - y(x)) sigma(a . x + b)]| = 0.

Adding a neuron sigma(a* . x + b*) with the best output weight lowers the risk by
exactly value^2 / (2 E[sigma(a* . x + b*)^2]) (the risk is quadratic in f): that is
``decrease_bound``, a guaranteed further decrease of R. See docs/theory.md, "Optimality".
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .._numba.threads import pool_owner
from ..registry import HOMOGENEOUS, activation_code
from ..dynamics.observables import objective
from ..model.state import trained_columns
from .reports import PolishResult  # noqa: F401  (part of this module's API)


def _serial_blas(func):
    """Run ``func`` with every BLAS pool at one thread (and Numba's pool owning the
    cores): SciPy's optimisers and eigensolvers call BLAS from Python, and a threaded
    BLAS sums in an order that depends on its thread count, so the result would depend
    on the machine's cores and on the executor of a sweep."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with pool_owner():
            return func(*args, **kwargs)
    return wrapper

EPS = np.finfo(np.float64).eps


class Objective:
    """J(theta) and its gradient over the free coordinates of ``theta``.

    Parameters
    ----------
    oracle : particles.oracles.base.Oracle
        A deterministic oracle (exact, sampled or data set).
    theta : ndarray, shape (m, d + 2)
        The state; frozen coordinates keep its values.
    lr : sequence of 3 floats
        Per-layer rates (c, a, b); a zero rate freezes the layer.
    weight_decay : float
    bias : bool
        The model has biases (otherwise the b column is frozen at 0).
    """

    def __init__(self, oracle, theta, lr=(1.0, 1.0, 1.0), weight_decay=0.0, bias=False):
        if oracle.streams:
            raise ValueError(f"the {oracle.kind!r} oracle draws fresh samples at every call; "
                             "allowed for polish and Hessians: a deterministic oracle "
                             "(exact, sampled or dataset)")
        self.oracle = oracle
        self.theta = np.array(theta, dtype=oracle.dtype, order="C", copy=True)
        oracle.check(self.theta)
        m, k = self.theta.shape
        d = k - 2
        self.m, self.d = m, d
        mask = np.repeat(trained_columns(lr, d, bias)[None, :], m, axis=0)
        if not mask.any():
            raise ValueError("every layer is frozen (lr = 0 for c, a and b); nothing to polish")
        self.mask = mask
        self.wd = float(weight_decay)
        self.alpha = float(oracle.alpha)
        self._v = np.empty_like(self.theta)
        self.nfev = 0

    @property
    def x0(self):
        """The free coordinates of the state, float64."""
        return self.theta[self.mask].astype(np.float64)

    def full(self, x):
        """The state with free coordinates ``x``.

        Parameters
        ----------
        x : ndarray, shape (free coordinates,)

        Returns
        -------
        ndarray, shape (m, d + 2)
            A new array in the oracle's dtype.
        """
        theta = self.theta.copy()
        theta[self.mask] = x
        return theta

    def _eval(self, x):
        theta = self.full(x)
        risk, v = self.oracle.velocity(theta, self._v)
        self.nfev += 1
        t64 = theta.astype(np.float64)
        g = -(v.astype(np.float64) - self.wd * t64) / self.m
        value = objective(risk, t64, self.wd, self.alpha, self.mask)
        return value, risk, g

    def fun_grad(self, x):
        """(J, dJ/dx) at free coordinates ``x``.

        Parameters
        ----------
        x : ndarray, shape (free coordinates,)

        Returns
        -------
        value : float
        grad : ndarray, shape (free coordinates,)
        """
        value, _, g = self._eval(x)
        return value, g[self.mask]

    def grad(self, x):
        """dJ/dx at free coordinates ``x``.

        Parameters
        ----------
        x : ndarray, shape (free coordinates,)

        Returns
        -------
        ndarray, shape (free coordinates,)
        """
        return self._eval(x)[2][self.mask]

    def hessp(self, x, p):
        """Hessian-vector product by central differences of the gradient.

        Parameters
        ----------
        x, p : ndarray, shape (free coordinates,)
            The point and the direction.

        Returns
        -------
        ndarray, shape (free coordinates,)
        """
        norm = float(np.linalg.norm(p))
        if norm == 0:
            return np.zeros_like(x)
        h = EPS ** (1 / 3) * max(1.0, float(np.linalg.norm(x))) / norm
        return (self.grad(x + h * p) - self.grad(x - h * p)) / (2 * h)

    def grad_norm(self, x):
        """sqrt((1/m) sum_i |v_i - lambda theta_i|^2) over the free coordinates: the root
        mean square of the mean-field velocity.

        Parameters
        ----------
        x : ndarray, shape (free coordinates,)

        Returns
        -------
        float
        """
        return float(self.m * np.linalg.norm(self.grad(x)) / math.sqrt(self.m))

    def risk(self, x):
        """The risk R(f) (without the regulariser) at free coordinates ``x``.

        Parameters
        ----------
        x : ndarray, shape (free coordinates,)

        Returns
        -------
        float
        """
        return self._eval(x)[1]


@_serial_blas
def polish(theta, oracle, *, method="lbfgs", gtol=1e-13, maxiter=20000, lr=(1.0, 1.0, 1.0),
           weight_decay=0.0, bias=None):
    """Minimise the flow's objective from ``theta`` down to a tiny gradient.

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
    oracle : particles.oracles.base.Oracle
        Deterministic (exact, sampled or dataset).
    method : {"lbfgs", "newton"}
        SciPy L-BFGS-B alone; or L-BFGS-B followed by Newton steps whose linear systems
        are solved by MINRES on finite-difference Hessian-vector products (gradients
        only: near the minimum the objective's values no longer resolve progress).
    gtol : float
        Target root mean square of the mean-field velocity.
    maxiter : int
    lr, weight_decay
        As for the integrators (zero rates freeze layers).
    bias : bool, optional
        Biases are trained (default: the b column of ``theta`` is not all zero).

    Returns
    -------
    PolishResult
    """
    import scipy.optimize

    if method not in ("lbfgs", "newton"):
        raise ValueError(f"method={method!r} is invalid; allowed: 'lbfgs', 'newton'")
    theta = np.asarray(theta)
    if bias is None:
        bias = bool(np.any(theta[:, -1] != 0))
    obj = Objective(oracle, theta, lr, weight_decay, bias)
    x = obj.x0
    g0 = obj.grad_norm(x)
    size = x.size
    # L-BFGS-B stops on the largest gradient component: ask for the RMS target
    ginf = gtol * math.sqrt(obj.m) / obj.m / math.sqrt(size)
    res = scipy.optimize.minimize(obj.fun_grad, x, jac=True, method="L-BFGS-B",
                                  options={"maxiter": maxiter, "maxcor": 50, "ftol": 0.0,
                                           "gtol": ginf, "maxls": 50})
    x, iters, message = res.x, int(res.nit), str(res.message)
    if method == "newton":
        x, steps, message = _newton(obj, x, gtol, message)
        iters += steps
    theta_out = obj.full(x)
    return PolishResult(theta=theta_out, risk=float(obj.risk(x)), grad_norm=obj.grad_norm(x),
                        grad_norm0=g0, method=method, iterations=iters, nfev=obj.nfev,
                        message=message)


def _newton(obj, x, gtol, message, max_steps=30):
    """Newton steps x <- x - H^+ g (MINRES on finite-difference Hessian products).

    Near a minimum the objective's values stop resolving progress (the risk is a sum of
    O(1) terms, so it is known to about 1e-16) while its gradient still does; these
    steps use gradients only and keep a step only when it lowers the gradient norm.
    """
    from scipy.sparse.linalg import LinearOperator, minres

    n = x.size
    op = LinearOperator((n, n), matvec=lambda p: obj.hessp(x_ref[0], np.asarray(p).ravel()),
                        dtype=np.float64)
    x_ref = [x]
    gn = obj.grad_norm(x)
    steps = 0
    for _ in range(max_steps):
        if gn <= gtol:
            return x, steps, "gradient norm reached gtol (Newton)"
        g = obj.grad(x)
        x_ref[0] = x
        p, _ = minres(op, -g, rtol=1e-12, maxiter=10 * n)
        for damping in (1.0, 0.5, 0.25, 0.125, 0.0625):  # damped where H misleads
            trial = x + damping * p
            gt = obj.grad_norm(trial)
            if gt < gn:
                break
        else:
            return x, steps, (f"Newton steps stopped at gradient norm {gn:.3g} (no further "
                              "decrease)")
        x, gn = trial, gt
        steps += 1
    return x, steps, f"{max_steps} Newton steps; gradient norm {gn:.3g}"


def zero_modes(theta, mask, activation, tol=1e-9):
    """Known exact flat directions at any point, restricted to the free coordinates.

    For positively homogeneous activations: each neuron's rescaling
    (c, a, b) -> (r c, a / r, b / r), direction (c_i, -a_i, -b_i); and for neurons with
    parallel (a, b), the split of the output between them.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    mask : ndarray of bool, shape (m, d + 2)
        The free (trained) coordinates.
    activation : str
        Only positively homogeneous ones (relu, leaky_relu) have the rescaling modes.
    tol : float
        Relative tolerance for "parallel" (a, b).

    Returns
    -------
    ndarray, shape (free coordinates, q)
        An orthonormal basis.
    """
    theta = np.asarray(theta, dtype=np.float64)
    m, k = theta.shape
    idx = -np.ones((m, k), np.int64)
    idx[mask] = np.arange(int(mask.sum()))
    cols = []
    if activation in HOMOGENEOUS:
        for i in range(m):
            vec = np.zeros(int(mask.sum()))
            full = np.concatenate([[theta[i, 0]], -theta[i, 1:]])
            if not (mask[i, 0] and mask[i, 1]):
                continue
            for q in range(k):
                if mask[i, q]:
                    vec[idx[i, q]] = full[q]
            if np.linalg.norm(vec) > 0:
                cols.append(vec)
        w = theta[:, 1:]
        norms = np.linalg.norm(w, axis=1)
        for i in range(m):
            for j in range(i + 1, m):
                if norms[i] == 0 or norms[j] == 0 or not (mask[i, 0] and mask[j, 0]):
                    continue
                if np.dot(w[i], w[j]) >= (1 - tol) * norms[i] * norms[j]:
                    vec = np.zeros(int(mask.sum()))
                    vec[idx[i, 0]] = norms[j]
                    vec[idx[j, 0]] = -norms[i]
                    cols.append(vec)
    if not cols:
        return np.zeros((int(mask.sum()), 0))
    Z = np.array(cols).T
    u, s, _ = np.linalg.svd(Z, full_matrices=False)
    return u[:, s > 1e-10 * s.max()]


@dataclass
class Spectrum:
    """What :func:`hessian_spectrum` returns.

    Attributes
    ----------
    eigenvalues : ndarray
        All eigenvalues of the Hessian restricted to the complement of the known zero
        modes (dense), or the k smallest and k largest (Lanczos), ascending.
    min_eig, max_eig : float
    min_vector : ndarray, shape (m, d + 2)
        Direction of the most negative (smallest) curvature, zero on frozen coordinates.
    zero_modes : int
        Known flat directions projected out.
    classification : {"minimum", "saddle", "degenerate"}
    tol : float
        Eigenvalues within +-tol count as zero.
    method : {"dense", "lanczos"}
    """

    eigenvalues: np.ndarray
    min_eig: float
    max_eig: float
    min_vector: np.ndarray
    zero_modes: int
    classification: str
    tol: float
    method: str

    def report(self):
        """The JSON-friendly summary stored in a run file (dict; no eigenvectors)."""
        return {"classification": self.classification, "min_eig": self.min_eig,
                "max_eig": self.max_eig, "zero_modes": self.zero_modes, "tol": self.tol,
                "method": self.method}


@_serial_blas
def hessian_spectrum(theta, oracle, *, k=6, dense=None, lr=(1.0, 1.0, 1.0), weight_decay=0.0,
                     bias=None, activation=None, rtol=1e-6):
    """Spectrum of the objective's Hessian at ``theta``, known zero modes removed.

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
    oracle : particles.oracles.base.Oracle
    k : int
        Extreme eigenvalues wanted at each end (Lanczos).
    dense : bool, optional
        Full spectrum from the dense Hessian (default: up to 2000 free coordinates).
    lr, weight_decay, bias
        As for :func:`polish`.
    activation : str, optional
        The student's activation (its homogeneity gives zero modes); default: the
        oracle's.
    rtol : float
        Eigenvalues below rtol * max |eigenvalue| in magnitude count as zero (the
        finite-difference products are accurate to about 1e-10 relative).

    Returns
    -------
    Spectrum
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    theta = np.asarray(theta)
    if bias is None:
        bias = bool(np.any(theta[:, -1] != 0))
    if activation is None:
        activation = oracle.activation
    obj = Objective(oracle, theta, lr, weight_decay, bias)
    x = obj.x0
    n = x.size
    Z = zero_modes(theta, obj.mask, activation)
    q = Z.shape[1]
    dense = n <= 2000 if dense is None else dense
    if dense:
        H = np.empty((n, n))
        for j in range(n):
            e = np.zeros(n)
            e[j] = 1.0
            H[:, j] = obj.hessp(x, e)
        H = 0.5 * (H + H.T)
        if q:
            from scipy.linalg import null_space

            Q = null_space(Z.T)
            w, V = np.linalg.eigh(Q.T @ H @ Q)
            V = Q @ V
        else:
            w, V = np.linalg.eigh(H)
        vec = V[:, 0]
    else:
        def proj(v):
            return v - Z @ (Z.T @ v) if q else v

        big = [0.0]

        def matvec(v):
            v = np.asarray(v).ravel()
            out = proj(obj.hessp(x, proj(v)))
            return out + big[0] * (Z @ (Z.T @ v)) if q else out

        op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        kk = min(k, n - 1)
        top = eigsh(op, k=kk, which="LA", return_eigenvectors=False)
        big[0] = 2 * max(abs(top).max(), 1.0)  # push the zero modes above the top
        low, lowv = eigsh(op, k=kk, which="SA")
        w = np.sort(np.concatenate([low, top]))
        vec = lowv[:, np.argmin(low)]
    scale = max(float(np.abs(w).max()), EPS)
    tol = rtol * scale
    lo = float(w[0])
    cls = "minimum" if lo > tol else ("saddle" if lo < -tol else "degenerate")
    min_vector = np.zeros(theta.shape)
    min_vector[obj.mask] = vec
    return Spectrum(eigenvalues=w, min_eig=lo, max_eig=float(w[-1]), min_vector=min_vector,
                    zero_modes=q, classification=cls, tol=tol,
                    method="dense" if dense else "lanczos")


@dataclass
class Certificate:
    """What :func:`certificate` returns.

    Attributes
    ----------
    value : float
        sup over unit (a, b) of |E[(f - y) sigma(a . x + b)]| (0 at a global minimiser).
    direction : ndarray, shape (d + 1,)
        The maximising unit (a, b) (b = 0 for a bias-free model).
    sign : float
        Sign of E[(f - y) sigma] there: a new neuron should take the opposite output sign.
    decrease_bound : float
        The risk R decreases by at least this much when one neuron is added at
        ``direction`` with its best output weight: value^2 / (2 E[sigma^2]).
    evaluations : int
        Oracle calls.
    """

    value: float
    direction: np.ndarray
    sign: float
    decrease_bound: float
    evaluations: int = 0
    starts: int = 0
    extra: dict = field(default_factory=dict)

    def report(self):
        """The JSON-friendly summary stored in a run file (dict)."""
        return {"value": self.value, "direction": self.direction.tolist(), "sign": self.sign,
                "decrease_bound": self.decrease_bound, "evaluations": self.evaluations,
                "starts": self.starts}


class _Probes:
    """Evaluate h(u) = E[(f - y) sigma(a . x + b)] and its gradient for unit directions
    u = (a, b), through an oracle of the same problem with added neuron pairs
    (+1, a, b), (-1, a, b): they cancel in f, and the +1 neuron's velocity is
    (-h, -grad_a h, -grad_b h) / alpha."""

    def __init__(self, make_oracle, theta, bias, count):
        self.theta = np.asarray(theta, dtype=np.float64)
        self.m, k = self.theta.shape
        self.d = k - 2
        self.bias = bias
        self.count = count
        self.oracle = make_oracle(self.m + 2 * count)
        self.alpha = float(self.oracle.alpha)
        self.buf = np.zeros((self.m + 2 * count, k), self.oracle.dtype)
        self.buf[:self.m] = self.theta
        self.buf[:self.m, 0] *= (self.m + 2 * count) / self.m  # f unchanged
        self.buf[self.m::2, 0] = 1.0
        self.buf[self.m + 1::2, 0] = -1.0
        self.calls = 0

    def __call__(self, U):
        """h and dh/du for unit directions U, shape (count, d + 1) (or (count, d))."""
        d = self.d
        for row in (self.m, self.m + 1):  # both neurons of every pair
            self.buf[row::2, 1:d + 1] = U[:, :d]
            self.buf[row::2, d + 1] = U[:, d] if self.bias else 0.0
        _, v = self.oracle.velocity(self.buf)
        self.calls += 1
        vp = v[self.m::2].astype(np.float64)
        h = -self.alpha * vp[:, 0]
        grad = -self.alpha * vp[:, 1:d + 2] if self.bias else -self.alpha * vp[:, 1:d + 1]
        return h, grad


@_serial_blas
def certificate(theta, make_oracle, *, bias=False, second_moment, starts=512, seed=0,
                refine=20):
    """The mean-field optimality certificate at ``theta`` (see the module docstring).

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
    make_oracle : callable
        ``make_oracle(n) -> Oracle`` for the same problem and student with n neurons
        (deterministic: exact, sampled or dataset).
    bias : bool
        Directions (a, b) on the unit sphere of R^(d+1); otherwise a on S^(d-1), b = 0.
    second_moment : callable
        ``second_moment(a, b) -> E[sigma(a . x + b)^2]``.
    starts : int
        Random unit directions scanned (in one oracle call); the best ones are refined.
    seed : int
    refine : int
        Directions refined by projected gradient ascent with SciPy's L-BFGS.

    Returns
    -------
    Certificate
    """
    import scipy.optimize

    theta = np.asarray(theta, dtype=np.float64)
    m, k = theta.shape
    d = k - 2
    dim = d + 1 if bias else d
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 1:
        raise ValueError(f"starts={starts!r} is invalid; allowed: an integer >= 1")
    # the scan holds the directions and one probe neuron per direction next to the m
    # particles: its arrays are checked against the memory before they are allocated
    from ..dynamics.resources import available_bytes

    need = 8 * starts * (2 * dim + 3 * (k + m)) * 4
    avail = available_bytes()
    if avail is not None and need > avail:
        raise ValueError(f"starts={starts} needs about {need / 2 ** 30:.3g} GiB for the "
                         f"scan; {avail / 2 ** 30:.3g} GiB is available: allowed: fewer "
                         f"starts (at most about {int(starts * avail / need)})")
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((starts, dim))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    scan = _Probes(make_oracle, theta, bias, starts)
    h, _ = scan(U)
    best = np.argsort(-np.abs(h))[:refine]
    one = _Probes(make_oracle, theta, bias, 1)
    results = []
    for i in best:
        s = 1.0 if h[i] >= 0 else -1.0

        def fun(u, s=s):
            nu = float(np.linalg.norm(u))
            uh = u / nu
            val, g = one(uh[None, :])
            g = g[0]
            grad = (g - uh * np.dot(uh, g)) / nu
            return -s * val[0], -s * grad

        res = scipy.optimize.minimize(fun, U[i], jac=True, method="L-BFGS-B",
                                      options={"maxiter": 200, "gtol": 1e-14, "ftol": 0.0})
        uh = res.x / np.linalg.norm(res.x)
        val = one(uh[None, :])[0][0]
        results.append((abs(val), uh, 1.0 if val >= 0 else -1.0))
    value, u, sign = max(results, key=lambda r: r[0])
    a, b = u[:d], (u[d] if bias else 0.0)
    m2 = float(second_moment(a, b))
    bound = value ** 2 / (2 * m2) if m2 > 0 else 0.0
    direction = np.concatenate([a, [b]])
    return Certificate(value=float(value), direction=direction, sign=sign,
                       decrease_bound=float(bound), evaluations=scan.calls + one.calls,
                       starts=starts)


def for_simulation(sim):
    """The pieces polish, Hessians and certificates need for a configured run.

    Parameters
    ----------
    sim : particles.Simulation
        The run, built from its file (problem and initial state resolved).

    Returns
    -------
    dict
        ``oracle`` (deterministic: the run's own, or its exact test oracle for online
        SGD), ``make_oracle(n)``, ``second_moment(a, b)``, ``lr``, ``weight_decay``,
        ``bias``, ``activation``.
    """
    from ..oracles import exact_oracle, sample_oracle
    from ..oracles.exact import input_scale, pair_moments

    cfg = sim.config
    net, ic = cfg.network, cfg.integrator
    oracle = sim.test if sim.oracle.streams else sim.oracle
    if oracle is None or oracle.streams:
        raise ValueError("this run has no deterministic risk (online SGD without an exact "
                         "oracle); allowed: runs with the exact, sampled or dataset oracle")
    code = activation_code(net.activation)
    kw = dict(activation=net.activation, bias=net.bias, alpha=net.effective_alpha, leak=net.leak,
              dtype=np.dtype(cfg.dtype))
    if oracle.kind == "exact":
        from ..oracles.exact import gaussian_rules

        rules = gaussian_rules(cfg.oracle.quad_nodes)

        def make_oracle(n):
            return exact_oracle(sim.problem, n, quad_nodes=cfg.oracle.quad_nodes, **kw)

        def second_moment(a, b):
            row = np.append(np.asarray(a, dtype=np.float64), float(b))[None, :]
            return float(pair_moments(code, net.leak, b != 0, row, row, rules)[0, 0]) * \
                input_scale(sim.problem)
    else:
        X, y = oracle.sample()

        def make_oracle(n):
            return sample_oracle(X, y, n, loss=sim.problem.loss, kind=oracle.kind, **kw)

        def second_moment(a, b):
            from ..model.network import forward

            row = np.zeros((1, X.shape[1] + 2))
            row[0, 0], row[0, 1:-1], row[0, -1] = 1.0, a, b
            f = forward(row, X, activation=net.activation, bias=True, leak=net.leak)
            return float(np.mean(f * f))
    return {"oracle": oracle, "make_oracle": make_oracle, "second_moment": second_moment,
            "lr": (ic.lr_c, ic.lr_a, ic.lr_b), "weight_decay": ic.weight_decay,
            "bias": net.bias, "activation": net.activation}


def _run_state(path, polished=True):
    """(Simulation, theta, which) of a run file: its polished state when there is one
    and ``polished``, else its last checkpoint."""
    from ..io import Run
    from ..dynamics.simulation import Simulation

    with Run(path) as run:
        sim = Simulation.from_run(run)
        if polished and "optimality/polish/theta" in run.f:
            return sim, run.f["optimality/polish/theta"][...], "polished"
        return sim, run.checkpoint()["theta"], "last"


def polish_file(path, *, method="lbfgs", gtol=1e-13):
    """Polish the last state of a run file and store it in ``/optimality/polish``.

    Parameters
    ----------
    path : str or os.PathLike
        A run file with a deterministic oracle.
    method : {"lbfgs", "newton"}
        As for :func:`polish` (a deconvolution uses L-BFGS-B with the signs fixed).
    gtol : float
        Target root mean square of the mean-field velocity.

    Returns
    -------
    PolishResult
    """
    from ..io.annotate import annotate

    sim, theta, _ = _run_state(path, polished=False)
    if sim.config.problem.kind == "deconvolution":
        from . import deconvolution

        ic = sim.config.integrator
        res = deconvolution.polish(theta, sim.oracle, gtol=gtol,
                                   lr=(ic.lr_c if ic.geometry == "wasserstein" else 1.0,
                                       ic.lr_a, 0.0))
        annotate(path, "polish", res.report(), {"theta": res.theta})
        return res
    parts = for_simulation(sim)
    res = polish(theta, parts["oracle"], method=method, gtol=gtol, lr=parts["lr"],
                 weight_decay=parts["weight_decay"], bias=parts["bias"])
    annotate(path, "polish", res.report(), {"theta": res.theta})
    return res


def certify_file(path, *, starts=512, seed=0, hessian=True, grow_into=None, t_end=None,
                 progress=None):
    """Certificate and Hessian classification of a run file's last (or polished) state,
    stored in ``/optimality/certificate``.

    With ``grow_into`` (a new file), the neuron the certificate points to is added and
    the run continues with m + 1 neurons there (see :func:`grow_file`).

    Parameters
    ----------
    path : str or os.PathLike
        A run file of a network with a deterministic oracle (full model, not the
        tangent model), or of a deconvolution.
    starts : int
        Random directions scanned before the best are refined.
    seed : int
        Seed of those directions.
    hessian : bool
        Also classify the point by the Hessian's smallest eigenvalue on the
        complement of the known zero modes.
    grow_into : str or os.PathLike, optional
        A new file: grow a neuron and continue the run there.
    t_end : float, optional
        End time of the grown run (default: the run's).
    progress : callable, optional
        As for :func:`particles.run`, for the grown run.

    Returns
    -------
    dict
        The certificate's report with ``classification``, ``min_eig`` (when
        ``hessian``), ``state`` ("polished" or "last") and, with ``grow_into``,
        ``grown`` (file, status, final risk).
    """
    from ..io.annotate import annotate

    if grow_into is not None and _kind(path) == "deconvolution":
        raise ValueError(f"--grow={os.fspath(grow_into)!r} is invalid for a deconvolution run; "
                         "allowed: no --grow (a measure gains mass where |V| > lam by itself "
                         "under the Wasserstein-Fisher-Rao flow)")
    if grow_into is not None:  # a bad destination fails before anything is written
        from ..dynamics.runner import check_new_file

        if os.path.exists(grow_into):
            raise FileExistsError(f"output file {os.fspath(grow_into)!r} exists; choose "
                                  "another path")
        check_new_file(os.fspath(grow_into))
    sim, theta, state = _run_state(path)
    if sim.config.network.model == "tangent":  # refused before anything is written
        raise ValueError(f"{os.fspath(path)!r} ran the tangent model (network.model = "
                         "'tangent'); allowed: a run of the full network (the certificate "
                         "and the Hessian's zero modes are those of the network, which the "
                         "linearised model does not share; its risk is convex, so polish "
                         "alone finds its minimum)")
    if sim.config.problem.kind == "deconvolution":
        from . import deconvolution

        report = deconvolution.certificate(theta, sim.problem)
        report["state"] = state
        annotate(path, "certificate", report)
        return report
    parts = for_simulation(sim)
    cert = certificate(theta, parts["make_oracle"], bias=parts["bias"],
                       second_moment=parts["second_moment"], starts=starts, seed=seed)
    report = cert.report()
    report["state"] = state
    if hessian:
        spec = hessian_spectrum(theta, parts["oracle"], lr=parts["lr"],
                                weight_decay=parts["weight_decay"], bias=parts["bias"],
                                activation=parts["activation"])
        report.update(spec.report())
    annotate(path, "certificate", report)
    if grow_into is not None:
        res = _grow_and_run(sim, theta, cert, parts, grow_into, t_end, progress)
        risk = res.observables.get("risk")
        report["grown"] = {"file": str(grow_into), "status": res.status,
                           "risk": float(risk[-1]) if risk is not None and len(risk) else None}
    return report


def _kind(path):
    """The problem kind of a run file (read from its stored config)."""
    from ..io import Run

    with Run(path) as run:
        return run.config.problem.kind


def grow(theta, cert, second_moment, alpha=1.0, alpha_new=None):
    """Add one neuron at the certificate's direction with its best output weight.

    The m old neurons keep the network's output (their c is rescaled from the output
    scale alpha / m to alpha_new / (m + 1); ``alpha_new`` defaults to ``alpha``, and
    differs for the ntk and standard scalings, whose effective scale depends on m); the
    new one adds t sigma(a* . x + b*) with t = -sign * value / E[sigma^2], which lowers
    the risk by ``cert.decrease_bound`` exactly (a conditional-gradient step on the
    measure).

    Parameters
    ----------
    theta : array_like, shape (m, d + 2)
    cert : Certificate
        From :func:`certificate` at ``theta``.
    second_moment : callable
        E[sigma(a . x + b)^2] of a unit direction (a, b) (from :func:`for_simulation`).
    alpha, alpha_new : float
        Output scale of the m-neuron and (m + 1)-neuron networks.

    Returns
    -------
    ndarray, shape (m + 1, d + 2)
    """
    theta = np.asarray(theta, dtype=np.float64)
    m, k = theta.shape
    d = k - 2
    alpha_new = alpha if alpha_new is None else alpha_new
    out = np.zeros((m + 1, k))
    out[:m] = theta
    out[:m, 0] *= (alpha / m) * (m + 1) / alpha_new
    a, b = cert.direction[:d], cert.direction[d]
    t = -cert.sign * cert.value / second_moment(a, b)
    out[m, 0] = (m + 1) * t / alpha_new
    out[m, 1:d + 1] = a
    out[m, d + 1] = b
    return out


def grow_file(path, out, *, starts=512, seed=0, t_end=None, progress=None):
    """Certify the last (or polished) state of ``path``, add the neuron the certificate
    points to, and continue the run with m + 1 neurons into the new file ``out``.

    Parameters
    ----------
    path, out : str or os.PathLike
        The run file and the new file (must not exist).
    starts, seed : int
        As for :func:`certify_file`.
    t_end : float, optional
        End time of the grown run (default: the run's).
    progress : callable, optional

    Returns
    -------
    (Certificate, Result)
    """
    sim, theta, _ = _run_state(path)
    parts = for_simulation(sim)
    cert = certificate(theta, parts["make_oracle"], bias=parts["bias"],
                       second_moment=parts["second_moment"], starts=starts, seed=seed)
    return cert, _grow_and_run(sim, theta, cert, parts, out, t_end, progress)


def _grow_and_run(sim, theta, cert, parts, out, t_end, progress):
    from ..dynamics.runner import run as run_file

    cfg = sim.config
    net = cfg.network.replace(m=cfg.network.m + 1)
    grown = grow(theta, cert, parts["second_moment"], cfg.network.effective_alpha,
                 net.effective_alpha)
    init = cfg.init.replace(scheme="array", symmetric=False, path=None)
    integ = cfg.integrator if t_end is None else cfg.integrator.replace(t_end=float(t_end))
    new = cfg.replace(network=net, init=init, integrator=integ)
    return run_file(new, out, theta=grown.astype(cfg.dtype), problem=sim.problem,
                    progress=progress)
