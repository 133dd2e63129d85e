"""The lazy-training criterion kappa(w0) (Chizat, Oyallon & Bach 2019): against a dense
finite-difference computation, and the scalings the theory gives."""
import math

import numpy as np
import pytest
import scipy.optimize

import naive
from particles import lazy
from particles.model.state import rate_columns


def _h(theta, x, activation, bias, alpha):
    """Network outputs on x, in plain NumPy (mean-field scaling)."""
    d = x.shape[1]
    z = x @ theta[:, 1:d + 1].T + (theta[:, d + 1] if bias else 0.0)
    return alpha / theta.shape[0] * naive.sigma(activation, z) @ theta[:, 0]


def _dense(theta, x, y, activation, bias, alpha, lr, rng):
    """||h - y||, ||Dh|| and ||D^2 h|| in the flow's metric from finite differences of the
    outputs (central differences; dense Jacobian and Hessians) and a brute-force maximum
    over the unit sphere."""
    m, k = theta.shape
    n = x.shape[0]
    free = [(i, q) for i in range(m) for q in range(k) if bias or q != k - 1]
    scale = np.sqrt(rate_columns(lr, k - 2))
    p = len(free)

    def out(delta):
        th = theta.copy()
        for (i, q), e in zip(free, delta):
            th[i, q] += scale[q] * e  # a step of size e in the flow's metric
        return _h(th, x, activation, bias, alpha)

    e1, e2 = 1e-6, 1e-4
    J = np.empty((n, p))
    for j in range(p):
        u = np.zeros(p)
        u[j] = e1
        J[:, j] = (out(u) - out(-u)) / (2 * e1)
    H = np.empty((n, p, p))
    for a in range(p):
        for b in range(a, p):
            ua, ub = np.zeros(p), np.zeros(p)
            ua[a], ub[b] = e2, e2
            H[:, a, b] = H[:, b, a] = (out(ua + ub) - out(ua - ub) - out(ub - ua)
                                       + out(-ua - ub)) / (4 * e2 * e2)
    jac = np.linalg.svd(J, compute_uv=False)[0] / math.sqrt(n)

    def neg(v):
        v = v / np.linalg.norm(v)
        return -np.linalg.norm(np.einsum("kab,a,b->k", H, v, v))

    best = max(-scipy.optimize.minimize(neg, rng.standard_normal(p), method="Nelder-Mead"
                                        if p < 3 else "BFGS").fun for _ in range(40))
    res = float(np.sqrt(np.mean((_h(theta, x, activation, bias, alpha) - y) ** 2)))
    return res, jac, best / math.sqrt(n)


@pytest.mark.parametrize("activation,bias,lr", [("tanh", True, (1.0, 0.5, 2.0)),
                                                ("erf", False, (1.0, 1.0, 1.0)),
                                                ("relu", True, (0.3, 1.0, 1.0))])
def test_against_dense_finite_differences(activation, bias, lr, rng):
    m, d, n = 3, 2, 7
    theta = rng.standard_normal((m, d + 2))
    if not bias:
        theta[:, -1] = 0.0
    x = rng.standard_normal((n, d))
    y = np.tanh(x[:, 0])
    got = lazy.criterion(theta, x, y, activation=activation, bias=bias, alpha=1.5, lr=lr,
                         restarts=8)
    res, jac, hess = _dense(theta, x, y, activation, bias, 1.5, lr, rng)
    np.testing.assert_allclose(got.residual, res, rtol=1e-12)
    np.testing.assert_allclose(got.jacobian_norm, jac, rtol=1e-7)
    # finite-difference Hessians: error ~1e-7; the iteration reaches the brute-force max
    np.testing.assert_allclose(got.hessian_norm, hess, rtol=1e-5)
    np.testing.assert_allclose(got.kappa, res * hess / jac ** 2, rtol=1e-5)
    assert got.jacobian_tol < 1e-8 and got.hessian_tol < 1e-6


def _symmetric(rng, m, d, bias=False):
    half = rng.standard_normal((m // 2, d + 2))
    if not bias:
        half[:, -1] = 0.0
    other = half.copy()
    other[:, 0] *= -1.0
    return np.vstack([half, other])  # h(w0) = 0 exactly


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_scalings_at_zero_output(activation, rng):
    """At h(w0) = 0: kappa(lam w0) = kappa(w0) / lam^2 for the 2-homogeneous relu network,
    kappa ~ 1/alpha, and kappa does not change with a common factor on the rates."""
    theta = _symmetric(rng, 40, 3)
    x = rng.standard_normal((30, 3))
    y = np.maximum(x[:, 0], 0.0) - 0.4
    kw = dict(activation=activation, restarts=2)
    base = lazy.criterion(theta, x, y, **kw)
    np.testing.assert_allclose(base.residual, np.sqrt(np.mean(y * y)), rtol=1e-14)
    half = lazy.criterion(theta, x, y, alpha=2.0, **kw)
    np.testing.assert_allclose(half.kappa, base.kappa / 2.0, rtol=1e-6)
    faster = lazy.criterion(theta, x, y, lr=(3.0, 3.0, 3.0), **kw)
    np.testing.assert_allclose(faster.kappa, base.kappa, rtol=1e-6)
    if activation == "relu":
        for lam in (0.1, 4.0):
            scaled = lazy.criterion(lam * theta, x, y, **kw)
            np.testing.assert_allclose(scaled.kappa, base.kappa / lam ** 2, rtol=1e-10)
        assert "Dirac" in base.note


def test_criterion_refuses_bad_input():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="theta has shape"):
        lazy.criterion(np.ones(4), x, np.ones(3))
    with pytest.raises(ValueError, match="y has shape"):
        lazy.criterion(np.ones((4, 4)), x, np.ones(2))
    with pytest.raises(ValueError, match="freezes every layer"):
        lazy.criterion(np.ones((4, 4)), x, np.ones(3), lr=(0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="restarts=0"):
        lazy.criterion(np.ones((4, 4)), x, np.ones(3), restarts=0)


def test_a_run_records_kappa_and_info_prints_it(tmp_path, capsys):
    """The run file holds kappa(w0) on the run's probe inputs, equal to the criterion
    computed from the file's own theta0, problem and probes; `particles info` prints it;
    a run without probes records none."""
    import particles as pt
    from particles.cli import main
    from particles.dynamics.simulation import probe_inputs

    cfg = pt.Config(problem=pt.ProblemConfig(d=3, m0=2), network=pt.NetworkConfig(m=12),
                    init=pt.InitConfig(tau=0.5, symmetric=True),
                    integrator=pt.IntegratorConfig(dt=0.1, t_end=1.0), seed=4)
    path = tmp_path / "r.h5"
    pt.run(cfg, str(path))
    with pt.load(str(path)) as run:
        rec = run.lazy_criterion
        x = probe_inputs(run.config, run.problem())
        again = lazy.criterion(run.theta0, x, run.problem().labels(x), restarts=2,
                               maxiter=20, tol=1e-4)
    assert rec["n"] == cfg.record.kernel_probes
    np.testing.assert_allclose(rec["kappa"], again.kappa, rtol=1e-12)
    assert main(["info", str(path)]) == 0
    assert f"kappa       {rec['kappa']:.3g} at t = 0" in capsys.readouterr().out
    quiet = tmp_path / "q.h5"
    pt.run(cfg.replace(record=pt.RecordConfig(kernel_probes=0)), str(quiet))
    with pt.load(str(quiet)) as run:
        assert run.lazy_criterion is None


def test_blocks_of_wide_probes_are_solved_in_the_row_space(rng):
    """With more input columns than probes (d = 10^6 made a (d + 2)^2 block before: a
    MemoryError in every run's start), the block is solved in the probes' row space:
    the same value as the dense block, and sigma_max from the small Gram matrix."""
    from particles.model import criterion as cr

    n, p = 6, 40
    Xt = rng.standard_normal((n, p))
    g1, g2 = rng.standard_normal(n), rng.standard_normal(n)
    v = rng.standard_normal(p + 1)
    reduced = cr._one_block(Xt, g1, g2, 0.7, 0.3, 1.2, v, 1e-12, 400)[0]
    full = _dense_one_block(Xt, g1, g2, 0.7, 0.3, 1.2, v, 400)
    np.testing.assert_allclose(reduced, full, rtol=1e-8)
    A = rng.standard_normal((5, 300))
    np.testing.assert_allclose(cr._sigma_max(A), np.linalg.svd(A, compute_uv=False)[0],
                               rtol=1e-10)
    np.testing.assert_allclose(cr._sigma_max(A.T), np.linalg.svd(A, compute_uv=False)[0],
                               rtol=1e-10)


def _dense_one_block(Xt, g1, g2, c, s, rc, v, maxiter):
    # the block of size (p + 1) solved densely, as before the reduction
    p = Xt.shape[1]
    v = v / np.linalg.norm(v)
    value = 0.0
    for _ in range(maxiter):
        dz = Xt @ v[1:]
        q = s * (2.0 * g1 * dz * rc * v[0] + g2 * dz * dz * c)
        g = q / np.linalg.norm(q)
        B = np.zeros((p + 1, p + 1))
        B[0, 1:] = B[1:, 0] = s * rc * ((g * g1) @ Xt)
        B[1:, 1:] = s * c * (Xt.T * (g * g2)) @ Xt
        lam, U = np.linalg.eigh(B)
        j = int(np.argmax(np.abs(lam)))
        new, v = abs(float(lam[j])), U[:, j]
        if abs(new - value) <= 1e-13 * new:
            return new
        value = new
    return value
