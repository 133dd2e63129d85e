"""The lazy regime: tangent model, tangent kernels (empirical, expected, infinite
width), kernel regression, and the lazy rates of the theory."""
import math
import pathlib
import zlib

import numpy as np
import pytest

import particles as pt
from particles import lazy
from particles.oracles.tangent import exact_tangent_oracle, online_tangent_oracle, tangent_oracle
from particles.model.problems import teacher_student
from particles.registry import FIXED_METHODS

import naive


def _theta(rng, m, d, bias, scale=1.0):
    t = scale * rng.standard_normal((m, d + 2))
    if not bias:
        t[:, -1] = 0.0
    return t


# ---------------------------------------------------------------- tangent oracle
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "erf", "tanh", "sigmoid"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(2, 300, 10), (20, 400, 40), (3, 4000, 80)])
def test_tangent_velocity_matches_naive(activation, bias, shape):
    d, n, m = shape
    # a stable seed per case (hash() of strings changes with every process)
    rng = np.random.default_rng(zlib.crc32(repr((activation, bias, shape)).encode()))
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    th0 = _theta(rng, m, d, bias)
    th = th0 + 0.3 * _theta(rng, m, d, bias)
    orc = tangent_oracle(X, y, th0, activation=activation, bias=bias, alpha=2.0)
    r, v = orc.velocity(th.copy())
    rn, vn = naive.tangent_velocity(th, th0, X, y, activation, bias, 2.0)
    np.testing.assert_allclose(r, rn, rtol=1e-12)
    np.testing.assert_allclose(v, vn, rtol=1e-10, atol=1e-13 * np.abs(vn).max())


def test_tangent_logistic_and_float32():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((500, 4)), np.sign(rng.standard_normal(500))
    th0 = _theta(rng, 30, 4, True)
    th = th0 + 0.2 * _theta(rng, 30, 4, True)
    r, v = tangent_oracle(X, y, th0, bias=True, loss="logistic").velocity(th.copy())
    rn, vn = naive.tangent_velocity(th, th0, X, y, "relu", True, loss_name="logistic")
    np.testing.assert_allclose(r, rn, rtol=1e-12)
    np.testing.assert_allclose(v, vn, rtol=1e-10, atol=1e-14)
    o32 = tangent_oracle(X, y, th0, bias=True, loss="logistic", dtype=np.float32)
    r32, v32 = o32.velocity(th.astype(np.float32))
    np.testing.assert_allclose(r32, rn, rtol=1e-5)
    np.testing.assert_allclose(v32, vn, rtol=1e-3, atol=1e-5 * np.abs(vn).max())


def test_tangent_equals_full_model_at_theta0():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((300, 3)), rng.standard_normal(300)
    th0 = _theta(rng, 12, 3, True)
    r_t, v_t = tangent_oracle(X, y, th0, bias=True, activation="erf").velocity(th0.copy())
    r_f, v_f = pt.sample_oracle(X, y, 12, bias=True, activation="erf").velocity(th0.copy())
    np.testing.assert_allclose(r_t, r_f, rtol=1e-13)
    np.testing.assert_allclose(v_t, v_f, rtol=1e-12, atol=1e-15)


def test_online_tangent_draws_like_online_oracle():
    problem = teacher_student(3, 2, bias=True, rng=np.random.default_rng(1))
    th0 = _theta(np.random.default_rng(5), 10, 3, True)
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    orc = online_tangent_oracle(problem, th0, g1, batch=64, bias=True)
    r, v = orc.velocity(th0.copy())
    ref = pt.online_oracle(problem, 10, g2, batch=64, bias=True)
    r2, v2 = ref.velocity(th0.copy())
    np.testing.assert_allclose(r, r2, rtol=1e-13)
    np.testing.assert_allclose(v, v2, rtol=1e-12, atol=1e-15)
    assert g1.bit_generator.state == g2.bit_generator.state


def test_tangent_model_with_the_exact_oracle_needs_bias_free_relu():
    pt.Config(network=pt.NetworkConfig(model="tangent"))  # the default problem: allowed
    with pytest.raises(pt.ConfigError, match="network.model"):
        pt.Config(network=pt.NetworkConfig(model="tangent", activation="erf"))
    with pytest.raises(pt.ConfigError, match="network.model"):
        pt.Config(network=pt.NetworkConfig(model="tangent", bias=True))
    with pytest.raises(pt.ConfigError, match="network.model"):
        pt.NetworkConfig(model="linear")


def _relu_problem(d, m, rng, symmetric=False, inputs="gaussian"):
    problem = teacher_student(d, 3, rng=rng, inputs=inputs)
    th0 = _theta(rng, m, d, False)
    if symmetric:
        th0[1::2, 1:] = th0[0::2, 1:]
        th0[1::2, 0] = -th0[0::2, 0]
    th = th0 + 0.3 * _theta(rng, m, d, False)
    return problem, th0, th


@pytest.mark.parametrize("d,m,symmetric,inputs", [(2, 6, False, "gaussian"),
                                                  (5, 8, True, "gaussian"),
                                                  (3, 10, False, "sphere"),
                                                  (40, 12, True, "sphere")])
def test_exact_tangent_matches_naive(d, m, symmetric, inputs):
    rng = np.random.default_rng(d + m)
    problem, th0, th = _relu_problem(d, m, rng, symmetric, inputs)
    orc = exact_tangent_oracle(problem, th0, alpha=1.7)
    r, v = orc.velocity(th.copy())
    scale = 1.0 / d if inputs == "sphere" else 1.0
    rn, vn = naive.exact_tangent_relu(th, th0, problem.teacher, 1.7, scale)
    np.testing.assert_allclose(r, rn, rtol=1e-12)
    np.testing.assert_allclose(v, vn, rtol=1e-10, atol=1e-13 * np.abs(vn).max())
    r32, v32 = exact_tangent_oracle(problem, th0, alpha=1.7, dtype=np.float32).velocity(
        th.astype(np.float32))
    np.testing.assert_allclose(r32, rn, rtol=1e-5)
    np.testing.assert_allclose(v32, vn, rtol=1e-3, atol=1e-5 * np.abs(vn).max())


def test_exact_tangent_equals_exact_oracle_at_theta0_and_monte_carlo():
    rng = np.random.default_rng(21)
    problem, th0, th = _relu_problem(3, 8, rng)
    orc = exact_tangent_oracle(problem, th0, alpha=2.0)
    r0, v0 = orc.velocity(th0.copy())
    rf, vf = pt.exact_oracle(problem, 8, alpha=2.0).velocity(th0.copy())
    np.testing.assert_allclose(r0, rf, rtol=1e-12)
    np.testing.assert_allclose(v0, vf, rtol=1e-10, atol=1e-14)
    # the risk away from theta0 against a Monte Carlo mean (5 standard errors)
    X = rng.standard_normal((400_000, 3))
    losses = 0.5 * (naive.tangent_forward(th, th0, X, "relu", False, 2.0)
                    - problem.labels(X)) ** 2
    r = orc.risk(th.copy())
    assert abs(losses.mean() - r) <= 5 * losses.std() / np.sqrt(X.shape[0])


def test_exact_tangent_velocity_is_minus_m_gradient():
    rng = np.random.default_rng(22)
    problem, th0, th = _relu_problem(4, 6, rng, symmetric=True)
    alpha, m = 1.5, 6
    orc = exact_tangent_oracle(problem, th0, alpha=alpha)
    _, v = orc.velocity(th.copy())
    h = 1e-6
    grad = np.zeros_like(th)
    for idx in np.ndindex(m, 5):  # c and a columns (no bias)
        tp, tm = th.copy(), th.copy()
        tp[idx] += h
        tm[idx] -= h
        grad[idx] = (orc.risk(tp) - orc.risk(tm)) / (2 * h)
    np.testing.assert_allclose(v, -m * grad / alpha ** 2, rtol=1e-6, atol=1e-8)


def test_tangent_model_needs_a_matching_problem():
    with pytest.raises(pt.ConfigError, match="network.model"):
        pt.Config(network=pt.NetworkConfig(model="tangent"),
                  problem=pt.ProblemConfig(teacher_bias=True))


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("scaling", ["mean_field", "ntk", "standard"])
def test_empirical_ntk_is_gram_of_jacobian(activation, bias, scaling):
    rng = np.random.default_rng(6)
    m, d = 7, 3
    theta = _theta(rng, m, d, bias)
    x1, x2 = rng.standard_normal((5, d)), rng.standard_normal((4, d))
    alpha_eff = 1.5 * {"mean_field": 1, "ntk": math.sqrt(m), "standard": m}[scaling]
    J1 = naive.jacobian(theta, x1, activation, bias, alpha_eff)
    J2 = naive.jacobian(theta, x2, activation, bias, alpha_eff)
    K = lazy.empirical_ntk(theta, x1, x2, activation=activation, bias=bias, alpha=1.5,
                           scaling=scaling, block=2)
    np.testing.assert_allclose(K, J1 @ J2.T, rtol=1e-7, atol=1e-9 * np.abs(K).max())
    # layer weights: the c, a and b columns of the Jacobian weighted by lr
    lr = (0.5, 2.0, 3.0)
    w = np.tile(np.r_[lr[0], np.full(d, lr[1]), lr[2]], m)
    Kw = lazy.empirical_ntk(theta, x1, x2, activation=activation, bias=bias, alpha=1.5,
                            scaling=scaling, lr=lr)
    np.testing.assert_allclose(Kw, (J1 * w) @ J2.T, rtol=1e-7, atol=1e-9 * np.abs(K).max())


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "erf"])
@pytest.mark.parametrize("bias", [False, True])
def test_expected_ntk_monte_carlo(activation, bias):
    rng = np.random.default_rng(7)
    d, m, draws = 3, 64, 400
    x = rng.standard_normal((4, d))
    kw = dict(activation=activation, bias=bias, alpha=1.3, scaling="ntk", tau_c=0.7,
              tau_a=1.2, tau_b=0.5, lr=(1.0, 0.8, 1.5))
    samples = []
    for _ in range(draws):
        th = np.concatenate([0.7 * rng.standard_normal((m, 1)),
                             1.2 * rng.standard_normal((m, d)),
                             0.5 * rng.standard_normal((m, 1)) * bias], axis=1)
        samples.append(lazy.empirical_ntk(th, x, activation=activation, bias=bias,
                                          alpha=1.3, scaling="ntk", lr=(1.0, 0.8, 1.5)))
    samples = np.array(samples)
    mean, se = samples.mean(0), samples.std(0, ddof=1) / math.sqrt(draws)
    expected = lazy.expected_ntk(x, m=m, **kw)
    assert np.all(np.abs(mean - expected) <= 5 * se + 1e-12), np.abs(mean - expected) / se


def test_empirical_ntk_spread_shrinks_as_inverse_sqrt_m():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 2))
    ms, spreads = [16, 64, 256, 1024], []
    for m in ms:
        ks = [lazy.empirical_ntk(rng.standard_normal((m, 4)) * [1, 1, 1, 0], x,
                                 scaling="ntk") for _ in range(300)]
        spreads.append(np.mean(np.std(ks, axis=0)))
    slope = np.polyfit(np.log(ms), np.log(spreads), 1)[0]
    np.testing.assert_allclose(slope, -0.5, atol=0.08)


def _quad_pair(activation, s11, s22, s12, nodes=120):
    # E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)] by quadrature on a Cholesky factor
    # (an independent derivation of the closed forms): u = l11 z, v = l21 z + l22 w
    from scipy import integrate, stats

    l11 = math.sqrt(s11)
    l21 = s12 / l11
    l22 = math.sqrt(max(s22 - l21 * l21, 0.0))
    if activation == "relu":
        # inner expectation over w in closed form: E relu(mu + l22 w) and P(mu + l22 w > 0);
        # outer one adaptive on z > 0 (relu(u) vanishes elsewhere)
        def inner(mu):
            if l22 == 0:
                return max(mu, 0.0), float(mu > 0)
            t = mu / l22
            return mu * stats.norm.cdf(t) + l22 * stats.norm.pdf(t), stats.norm.cdf(t)

        e_ss = integrate.quad(lambda z: l11 * z * inner(l21 * z)[0] * stats.norm.pdf(z), 0,
                              np.inf, epsabs=1e-14, epsrel=1e-13)[0]
        e_dd = integrate.quad(lambda z: inner(l21 * z)[1] * stats.norm.pdf(z), 0, np.inf,
                              epsabs=1e-14, epsrel=1e-13)[0]
        return e_ss, e_dd
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    u = l11 * z[:, None] + 0 * z[None, :]
    v = l21 * z[:, None] + l22 * z[None, :]
    ww = w[:, None] * w[None, :]
    f0, f1 = naive.sigma(activation, u), naive.sigma(activation, v)
    g0, g1 = naive.sigma(activation, u, order=1), naive.sigma(activation, v, order=1)
    return float(np.sum(ww * f0 * f1)), float(np.sum(ww * g0 * g1))


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("depth,b_std", [(1, 0.0), (2, 0.3), (3, 0.0)])
def test_infinite_kernels_against_quadrature_recursion(activation, depth, b_std):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 5))
    nngp, ntk = lazy.infinite_kernels(x, activation=activation, depth=depth, w_std=1.4,
                                      b_std=b_std)
    w2, b2 = 1.4 ** 2, b_std ** 2
    S = w2 * x @ x.T / 5 + b2
    T = S.copy()
    for _ in range(depth):
        new_S, dot = np.empty_like(S), np.empty_like(S)
        for i in range(3):
            for j in range(3):
                new_S[i, j], dot[i, j] = _quad_pair(activation, S[i, i], S[j, j], S[i, j])
        S = w2 * new_S + b2
        T = S + w2 * dot * T
    np.testing.assert_allclose(nngp, S, rtol=1e-10)
    np.testing.assert_allclose(ntk, T, rtol=1e-10)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_infinite_kernels_monte_carlo_one_hidden_layer(activation):
    # a width-n network in neural-tangents' "ntk" parameterisation; with one hidden
    # layer its NNGP and NTK are unbiased at any width, so the mean over draws must
    # match the closed forms within the standard error
    rng = np.random.default_rng(11)
    d, width, draws, w_std, b_std = 4, 256, 300, 1.3, 0.4
    x = rng.standard_normal((3, d))
    nngps, ntks = [], []
    for _ in range(draws):
        W, beta = rng.standard_normal((width, d)), rng.standard_normal(width)
        v = rng.standard_normal(width)
        z = (w_std / math.sqrt(d)) * x @ W.T + b_std * beta
        h, g = naive.sigma(activation, z), naive.sigma(activation, z, order=1)
        # output f = (w_std / sqrt(width)) v . h + b_std beta_out
        nngps.append((w_std ** 2 / width) * h @ h.T + b_std ** 2)
        jw = (w_std / math.sqrt(width)) * g * v  # df/dz
        z_kernel = (w_std ** 2 / d) * x @ x.T + b_std ** 2
        ntks.append(nngps[-1] + (jw @ jw.T) * z_kernel)
    nngp, ntk = lazy.infinite_kernels(x, activation=activation, w_std=w_std, b_std=b_std)
    for samples, exact in ((np.array(nngps), nngp), (np.array(ntks), ntk)):
        se = samples.std(0, ddof=1) / math.sqrt(draws)
        assert np.all(np.abs(samples.mean(0) - exact) <= 5 * se + 1e-12)


NT_REFERENCE = pathlib.Path(__file__).parent / "data" / "neural_tangents_kernels.npz"


def test_infinite_kernels_match_stored_neural_tangents_kernels():
    """Against kernels neural-tangents computed (tests/data/make_neural_tangents.py wrote
    them): the comparison runs without neural-tangents installed."""
    ref = np.load(NT_REFERENCE)
    x1, x2, w_std = ref["x1"], ref["x2"], float(ref["w_std"])
    cases = 0
    for act in ("relu", "erf"):
        for depth, b_std in ((1, 0.0), (3, 0.2)):
            key = f"{act}_depth{depth}_b{b_std}"
            nngp, ntk = lazy.infinite_kernels(x1, x2, activation=act, depth=depth,
                                              w_std=w_std, b_std=b_std)
            np.testing.assert_allclose(nngp, ref[f"nngp_{key}"], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(ntk, ref[f"ntk_{key}"], rtol=1e-10, atol=1e-12)
            cases += 1
    assert cases == 4


def test_infinite_kernels_match_neural_tangents_live():
    nt = pytest.importorskip("neural_tangents", reason="neural-tangents is not installed "
                             "(the stored reference is checked by the test above)")
    from jax import config as jax_config

    jax_config.update("jax_enable_x64", True)
    rng = np.random.default_rng(12)
    x1, x2 = rng.standard_normal((5, 6)), rng.standard_normal((4, 6))
    for act, layer in (("relu", nt.stax.Relu), ("erf", nt.stax.Erf)):
        for depth, b_std in ((1, 0.0), (3, 0.2)):
            layers = []
            for _ in range(depth):
                layers += [nt.stax.Dense(64, W_std=1.5, b_std=b_std), layer()]
            layers.append(nt.stax.Dense(1, W_std=1.5, b_std=b_std))
            kernel_fn = nt.stax.serial(*layers)[2]
            ref = kernel_fn(x1, x2, ("nngp", "ntk"))
            nngp, ntk = lazy.infinite_kernels(x1, x2, activation=act, depth=depth, w_std=1.5,
                                              b_std=b_std)
            np.testing.assert_allclose(nngp, np.asarray(ref.nngp), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(ntk, np.asarray(ref.ntk), rtol=1e-10, atol=1e-12)


def test_kernel_functions_refuse_bad_input():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="depth=0"):
        lazy.infinite_kernels(x, depth=0)
    with pytest.raises(ValueError, match="activation='tanh'"):
        lazy.infinite_kernels(x, activation="tanh")
    with pytest.raises(ValueError, match="x2 has shape"):
        lazy.empirical_ntk(np.ones((4, 4)), x, np.ones((3, 3)))
    with pytest.raises(ValueError, match="scaling="):
        lazy.empirical_ntk(np.ones((4, 4)), x, scaling="lazy")
    with pytest.raises(ValueError, match="m=0"):
        lazy.expected_ntk(x, m=0)
    with pytest.raises(ValueError, match="K has shape"):
        lazy.kernel_flow(np.ones((3, 2)), np.ones(3), [1.0])
    with pytest.raises(ValueError, match="times="):
        lazy.kernel_flow(np.eye(3), np.ones(3), [-1.0])
    with pytest.raises(ValueError, match="ridge="):
        lazy.kernel_ridge(np.eye(3), np.ones(3), -1.0)


# ---------------------------------------------------------------- kernel regression
def test_kernel_flow_solves_its_ode_and_tends_to_ridgeless():
    rng = np.random.default_rng(13)
    X, Xt = rng.standard_normal((20, 3)), rng.standard_normal((5, 3))
    y = rng.standard_normal(20)
    nngp, ntk = lazy.infinite_kernels(np.vstack([X, Xt]))
    K, Kt = ntk[:20, :20], ntk[20:, :20]
    f0, f0t = 0.1 * rng.standard_normal(20), 0.1 * rng.standard_normal(5)
    times = np.array([0.0, 0.5, 1.0])
    ftr, fte = lazy.kernel_flow(K, y, times, f0=f0, K_test=Kt, f0_test=f0t)
    np.testing.assert_allclose(ftr[0], f0, atol=1e-13)
    np.testing.assert_allclose(fte[0], f0t, atol=1e-13)
    # the derivative is -(1/n) K (f - y), checked by a central difference
    h = 1e-5
    fp, fpt = lazy.kernel_flow(K, y, [0.5 + h], f0=f0, K_test=Kt, f0_test=f0t)
    fm, fmt = lazy.kernel_flow(K, y, [0.5 - h], f0=f0, K_test=Kt, f0_test=f0t)
    np.testing.assert_allclose((fp - fm)[0] / (2 * h), -K @ (ftr[1] - y) / 20, rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose((fpt - fmt)[0] / (2 * h), -Kt @ (ftr[1] - y) / 20, rtol=1e-6,
                               atol=1e-9)
    ftr_inf, fte_inf = lazy.kernel_flow(K, y, [1e9], K_test=Kt)
    rtr, rte = lazy.kernel_ridge(K, y, 0.0, K_test=Kt)
    np.testing.assert_allclose(ftr_inf[0], y, rtol=1e-8)
    np.testing.assert_allclose(rtr, y, rtol=1e-8)
    np.testing.assert_allclose(fte_inf[0], rte, rtol=1e-6)
    # ridge: the normal equations (K + n lambda I) w = y
    rtr, rte = lazy.kernel_ridge(K, y, 0.1, K_test=Kt)
    w = np.linalg.solve(K + 20 * 0.1 * np.eye(20), y)
    np.testing.assert_allclose(rte, Kt @ w, rtol=1e-10)


def _dataset_config(m=40, alpha=1.0, model="full", t_end=2.0, method="dop853", d=3, **init):
    return pt.Config(
        problem=pt.ProblemConfig(kind="dataset", d=d),
        network=pt.NetworkConfig(m=m, alpha=alpha, model=model, bias=True),
        init=pt.InitConfig(**init),
        oracle=pt.OracleConfig(kind="dataset"),
        integrator=pt.IntegratorConfig(method=method, dt=0.01, t_end=t_end,
                                       **({} if method in FIXED_METHODS else
                                          dict(rtol=1e-12, atol=1e-14))),
        record=pt.RecordConfig(frames=6))


def test_tangent_run_follows_the_kernel_flow():
    rng = np.random.default_rng(14)
    X, Xt = rng.standard_normal((30, 3)), rng.standard_normal((10, 3))
    y, yt = np.sin(X[:, 0]) + X[:, 1], np.sin(Xt[:, 0]) + Xt[:, 1]
    data = pt.dataset(X, y, Xt, yt)
    cfg = _dataset_config(model="tangent")
    cfg = cfg.replace(integrator=cfg.integrator.replace(lr_a=0.5, lr_b=2.0))
    res = pt.simulate(cfg, problem=data)
    th0 = res.theta0
    lr = (1.0, 0.5, 2.0)
    K = lazy.flow_kernel(th0, X, bias=True, lr=lr)
    Kt = lazy.flow_kernel(th0, Xt, X, bias=True, lr=lr)
    f0 = naive.forward(th0, X, "relu")
    f0t = naive.forward(th0, Xt, "relu")
    ftr, fte = lazy.kernel_flow(K, y, res.frame_times, f0=f0, K_test=Kt, f0_test=f0t)
    for k, th in enumerate(res.frames):
        np.testing.assert_allclose(naive.tangent_forward(th, th0, X, "relu", True), ftr[k],
                                   rtol=0, atol=1e-8)
        np.testing.assert_allclose(naive.tangent_forward(th, th0, Xt, "relu", True), fte[k],
                                   rtol=0, atol=1e-8)
    # the recorded risks are those of the kernel predictor
    np.testing.assert_allclose(res.observables["test_risk"][-1],
                               0.5 * np.mean((fte[-1] - yt) ** 2), rtol=1e-7)


# ---------------------------------------------------------------- lazy rates
def _slopes(alphas, values):
    return np.polyfit(np.log(alphas), np.log(values), 1)[0]


def test_lazy_rates_in_alpha():
    """Fixed horizon, symmetric initialisation, smooth activation (the theory needs a
    Lipschitz Jacobian): |w - w0| ~ 1/alpha and |w - w_bar| ~ 1/alpha^2. The predictor
    gap is bounded by C/alpha in general; with the symmetric (doubling) initialisation
    the second-order term of f - f_bar cancels between the two neurons of each pair, and
    the gap is ~ 1/alpha^2 (docs/lazy.md, "Lazy rates")."""
    rng = np.random.default_rng(15)
    X = rng.standard_normal((200, 2))
    y = np.maximum(X @ [1.0, -0.5], 0) - np.maximum(X @ [-0.3, 1.0], 0)
    data = pt.dataset(X, y)
    alphas = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
    move, split, gap = [], [], []
    for alpha in alphas:
        cfg = _dataset_config(m=20, alpha=float(alpha), t_end=1.0, method="heun",
                              d=2, symmetric=True, seed=3)
        cfg = cfg.replace(network=cfg.network.replace(bias=False, activation="erf"),
                          integrator=cfg.integrator.replace(dt=0.005),
                          record=pt.RecordConfig(frames=2, kernel_probes=0))
        full = pt.simulate(cfg, problem=data)
        lin = pt.simulate(cfg.replace(network=cfg.network.replace(model="tangent")),
                          problem=data)
        np.testing.assert_array_equal(full.theta0, lin.theta0)
        move.append(np.linalg.norm(full.theta - full.theta0))
        split.append(np.linalg.norm(full.theta - lin.theta))
        gap.append(lazy.predictor_gap(full.frames[-1:], lin.frames[-1:], X, alpha=alpha,
                                      activation="erf", theta0=full.theta0)[0])
    slopes = [_slopes(alphas, v) for v in (move, split, gap)]
    np.testing.assert_allclose(slopes, [-1.0, -2.0, -2.0], atol=0.15)


def test_relu_tau_is_alpha_tau_squared():
    """With relu, scaling the initial particles by tau equals alpha' = alpha tau^2 with
    time rescaled by tau^2: theta_tau(t) = tau theta_alpha'(tau^2 t), step for step."""
    tau, dt, steps = 0.3, 0.02, 200
    base = pt.Config(network=pt.NetworkConfig(m=12, bias=True),
                     problem=pt.ProblemConfig(d=3, teacher_bias=True),
                     init=pt.InitConfig(seed=5, tau=tau),
                     integrator=pt.IntegratorConfig(dt=dt, t_end=dt * steps),
                     record=pt.RecordConfig(frames=5, kernel_probes=0))
    run_tau = pt.simulate(base)
    theta_base = run_tau.theta0 / tau
    scaled = base.replace(network=base.network.replace(alpha=tau ** 2),
                          integrator=base.integrator.replace(dt=dt * tau ** 2,
                                                             t_end=dt * tau ** 2 * steps))
    run_alpha = pt.simulate(scaled, theta=theta_base)
    np.testing.assert_array_equal(run_tau.frame_steps, run_alpha.frame_steps)
    np.testing.assert_allclose(run_tau.frames, tau * run_alpha.frames, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(run_tau.observables["risk"], run_alpha.observables["risk"],
                               rtol=1e-9)


# ---------------------------------------------------------------- observables and twin
def test_kernel_drift_observable():
    cfg = pt.Config(network=pt.NetworkConfig(m=10),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=2.0),
                    record=pt.RecordConfig(frames=4, observables_factor=1, kernel_probes=16))
    sim = pt.Simulation(cfg)
    res = sim.run()
    drift = res.observables["kernel_drift"]
    assert drift[0] == 0.0 and drift[-1] > 0
    net = cfg.network
    K0 = lazy.empirical_ntk(res.theta0, sim.probes)
    K = lazy.empirical_ntk(res.frames[-1], sim.probes)
    np.testing.assert_allclose(drift[-1], np.linalg.norm(K - K0) / np.linalg.norm(K0),
                               rtol=1e-12)
    assert net.model == "full" and sim.probes.shape == (16, 2)
    tangent = cfg.replace(network=net.replace(model="tangent"),
                          oracle=pt.OracleConfig(kind="sampled", n=200))
    assert "kernel_drift" not in pt.Simulation(tangent).observable_names


def test_run_twin_stores_both_and_the_gap(tmp_path):
    cfg = pt.Config(network=pt.NetworkConfig(m=20, alpha=8.0),
                    init=pt.InitConfig(symmetric=True),
                    oracle=pt.OracleConfig(kind="sampled", n=300, n_monitor=0),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=2.0),
                    record=pt.RecordConfig(frames=5))
    full, lin, gap = lazy.run_twin(cfg, tmp_path / "run.h5")
    assert gap["gap"][0] == 0.0 and np.all(gap["gap"][1:] > 0)
    with pt.Run(tmp_path / "run.h5") as a, pt.Run(tmp_path / "run-tangent.h5") as b:
        assert a.config.network.model == "full" and b.config.network.model == "tangent"
        np.testing.assert_array_equal(a.theta0, b.theta0)
        from particles.io.annotate import read_annotation

        rep = read_annotation(a.f, "twin", group="lazy")
        np.testing.assert_allclose(rep["final_gap"], gap["gap"][-1])
        np.testing.assert_allclose(a.f["lazy/twin/gap"][()], gap["gap"])
    probes = pt.Simulation(cfg.replace(record=cfg.record.replace(kernel_probes=32))).probes
    np.testing.assert_allclose(
        gap["gap"][-1],
        np.sqrt(np.mean((naive.forward(full.theta, probes, "relu", 8.0)
                         - naive.tangent_forward(lin.theta, full.theta0, probes, "relu",
                                                 False, 8.0)) ** 2)), rtol=1e-10)
