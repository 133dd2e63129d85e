"""Risk oracles: exact closed forms against Monte Carlo, velocities against finite
differences, compiled kernels against their NumPy twins."""
import math

import numpy as np
import pytest

import naive
from conftest import RTOL
import particles as pt
from particles import oracles
from particles.model import problems
from particles.kernels.network import forward


def _theta(rng, m, d, bias, scale=0.8, dtype=np.float64):
    th = scale * rng.standard_normal((m, d + 2))
    if not bias:
        th[:, d + 1] = 0.0
    return np.ascontiguousarray(th, dtype=dtype)


def _problem(rng, d, act, bias, inputs="gaussian", m0=3):
    return problems.teacher_student(d, m0, activation=act, bias=bias, inputs=inputs, rng=rng)


@pytest.mark.parametrize("act,bias,inputs", [
    ("relu", False, "gaussian"), ("relu", True, "gaussian"), ("erf", False, "gaussian"),
    ("erf", True, "gaussian"), ("tanh", True, "gaussian"), ("sigmoid", False, "gaussian"),
    ("leaky_relu", True, "gaussian"), ("relu", False, "sphere"),
])
def test_exact_risk_against_monte_carlo(act, bias, inputs, rng):
    """Exact risk vs the mean loss over 10^6 inputs; tolerance 5 standard errors."""
    d, m, alpha = 4, 6, 1.3
    prob = _problem(rng, d, act, bias, inputs)
    th = _theta(rng, m, d, bias)
    exact = oracles.exact_oracle(prob, m, activation=act, bias=bias, alpha=alpha).risk(th)
    n = 1_000_000
    X = problems.sample_inputs(rng, n, d, inputs)
    f = np.empty(n)
    forward(th, X, pt.ACTIVATIONS[act], 0.01, bias, alpha / m, f)
    loss = 0.5 * (f - prob.labels(X)) ** 2
    se = loss.std() / math.sqrt(n)
    np.testing.assert_allclose(exact, loss.mean(), rtol=0, atol=5 * se)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "erf", "sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("bias", [False, True])
def test_exact_velocity_against_finite_differences(act, bias, rng):
    d, m, alpha = 3, 5, 1.7
    prob = _problem(rng, d, act, bias, m0=2)
    o = oracles.exact_oracle(prob, m, activation=act, bias=bias, alpha=alpha)
    th = _theta(rng, m, d, bias, scale=0.7)
    _, v = o.velocity(th)
    g = np.zeros_like(th)
    e = 1e-6
    for idx in np.ndindex(th.shape):
        if idx[1] == d + 1 and not bias:
            continue
        tp, tm = th.copy(), th.copy()
        tp[idx] += e
        tm[idx] -= e
        g[idx] = (o.risk(tp) - o.risk(tm)) / (2 * e)
    # v_i = -m grad_{theta_i} (R / alpha^2)
    vfd = -m * g / alpha ** 2
    assert np.max(np.abs(v - vfd)) < 1e-6 * np.max(np.abs(v))


@pytest.mark.parametrize("act,bias", [("relu", False), ("relu", True), ("erf", True),
                                      ("leaky_relu", True)])
def test_exact_kernel_against_naive_double_sum(act, bias, rng):
    d, m = 3, 4
    prob = _problem(rng, d, act, bias, m0=2)
    th = _theta(rng, m, d, bias)
    got = oracles.exact_oracle(prob, m, activation=act, bias=bias, alpha=1.5, leak=0.1).risk(th)
    ref = naive.exact_risk(th, prob.teacher, act, bias, alpha=1.5, leak=0.1)
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_sphere_is_gaussian_over_d(rng):
    d, m = 5, 6
    prob = _problem(rng, d, "relu", False)
    sph = problems.Problem(d=d, inputs="sphere", teacher=prob.teacher, teacher_activation="relu")
    th = _theta(rng, m, d, False)
    rg, vg = oracles.exact_oracle(prob, m).velocity(th)
    rs, vs = oracles.exact_oracle(sph, m).velocity(th)
    np.testing.assert_allclose(rs, rg / d, rtol=1e-12)
    np.testing.assert_allclose(vs, vg / d, rtol=1e-12)


@pytest.mark.parametrize("d,m,n", [(2, 9, 700), (2, 100, 5000), (3, 9, 700), (8, 80, 700),
                                   (8, 80, 6000), (40, 9, 700)])
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "tanh", "softplus"])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sampled_kernel_against_naive(d, m, n, act, loss, dtype, rng):
    """Every code path against the NumPy twin: the single-loop passes for d = 2 (in the
    calling thread, then on the pool: n m >= SERIAL_BELOW), the two-pass fused chunks
    for d = 3, the neurons-innermost path for d = 8 (calling thread, pool) and BLAS
    blocks for d = 40."""
    from particles.kernels import sampled as ks

    assert (n * m >= ks.SERIAL_BELOW) == ((d, m, n) in [(2, 100, 5000), (8, 80, 6000)])
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    if loss == "logistic":
        y = np.sign(y)
    th = _theta(rng, m, d, True, dtype=dtype)
    o = oracles.sample_oracle(X, y, m, activation=act, bias=True, alpha=2.0, loss=loss,
                           dtype=dtype)
    r, v = o.velocity(th)
    rn, vn = naive.sample_velocity(th, X.astype(dtype), y, act, True, 2.0, loss_name=loss)
    tol = RTOL[dtype]
    np.testing.assert_allclose(r, rn, rtol=tol)
    np.testing.assert_allclose(v, vn, rtol=tol, atol=tol * np.max(np.abs(vn)))
    assert v.dtype == dtype


@pytest.mark.parametrize("d", [2, 40])
def test_sampled_velocity_against_finite_differences(d, rng):
    n, m, alpha = 300, 6, 0.7
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    o = oracles.sample_oracle(X, y, m, activation="tanh", bias=True, alpha=alpha)
    th = _theta(rng, m, d, True)
    _, v = o.velocity(th)
    e = 1e-6
    vfd = np.zeros_like(v)
    for idx in np.ndindex(th.shape):
        tp, tm = th.copy(), th.copy()
        tp[idx] += e
        tm[idx] -= e
        vfd[idx] = -m * (o.risk(tp) - o.risk(tm)) / (2 * e) / alpha ** 2
    assert np.max(np.abs(v - vfd)) < 1e-6 * np.max(np.abs(v))


def test_online_batch_matches_numpy_stream(rng):
    """The online oracle draws its batch from the given Generator, as NumPy would."""
    d, m, batch = 3, 5, 64
    prob = _problem(rng, d, "relu", False)
    gen = np.random.default_rng(7)
    o = oracles.online_oracle(prob, m, gen, batch=batch)
    th = _theta(rng, m, d, False)
    r1, v1 = o.velocity(th)
    X = np.random.default_rng(7).standard_normal((batch, d))
    rn, vn = naive.sample_velocity(th, X, prob.labels(X), "relu", False)
    np.testing.assert_allclose(r1, rn, rtol=1e-12)
    np.testing.assert_allclose(v1, vn, rtol=1e-12, atol=1e-14)
    r2, _ = o.velocity(th)
    assert r2 != r1  # the stream advanced


def test_exact_float32_agrees_with_float64(rng):
    d, m = 5, 20
    prob = _problem(rng, d, "relu", True)
    th = _theta(rng, m, d, True)
    r64, v64 = oracles.exact_oracle(prob, m, bias=True).velocity(th)
    r32, v32 = oracles.exact_oracle(prob, m, bias=True, dtype=np.float32).velocity(
        th.astype(np.float32))
    np.testing.assert_allclose(r32, r64, rtol=1e-5)
    np.testing.assert_allclose(v32, v64, rtol=0, atol=1e-5 * np.max(np.abs(v64)))


def test_exact_oracle_rejects_logistic_and_mismatch(rng):
    prob = problems.teacher_student(2, 2, loss="logistic", rng=rng)
    with pytest.raises(ValueError, match="'sampled' or 'online'"):
        oracles.exact_oracle(prob, 4)
    prob = problems.teacher_student(2, 2, activation="tanh", rng=rng)
    with pytest.raises(ValueError, match="teacher_activation='tanh' .*student's activation 'relu'"):
        oracles.exact_oracle(prob, 4, activation="relu")
    prob = problems.teacher_student(2, 2, activation="erf", inputs="sphere", rng=rng)
    with pytest.raises(ValueError, match="inputs='sphere'"):
        oracles.exact_oracle(prob, 4, activation="erf")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_blocked_kernel_against_full_matrix_twin(dtype, rng):
    """m = 300 spans three blocks (and several lanes): same numbers as full matrices."""
    d, m = 7, 300
    prob = _problem(rng, d, "relu", False)
    th = _theta(rng, m, d, False, dtype=dtype)
    r, v = oracles.exact_oracle(prob, m, alpha=1.3, dtype=dtype).velocity(th)
    rn, vn = naive.exact_relu_velocity(th.astype(np.float64), prob.teacher, alpha=1.3)
    tol = 1e-11 if dtype == np.float64 else 3e-5
    np.testing.assert_allclose(r, rn, rtol=tol)
    np.testing.assert_allclose(v, vn, rtol=0, atol=tol * np.abs(vn).max())


def test_exact_blocked_general_path_by_finite_differences(rng):
    """erf with bias over several blocks: velocity entries against the risk's FD."""
    d, m = 3, 260
    prob = _problem(rng, d, "erf", True)
    o = oracles.exact_oracle(prob, m, activation="erf", bias=True)
    th = _theta(rng, m, d, True, scale=0.6)
    _, v = o.velocity(th)
    e = 1e-6
    for idx in [(0, 0), (5, 1), (130, 2), (259, 3), (200, 4)]:
        tp, tm = th.copy(), th.copy()
        tp[idx] += e
        tm[idx] -= e
        fd = -m * (o.risk(tp) - o.risk(tm)) / (2 * e)
        np.testing.assert_allclose(v[idx], fd, rtol=1e-6, atol=1e-7 * np.abs(v).max())


def test_leaky_teacher_labels_use_the_configured_slope():
    """The exact oracle and the teacher's labels agree for a non-default leak: the
    sampled risk over 2e5 inputs matches the exact risk within 5 standard errors."""
    cfg = pt.Config(network=pt.NetworkConfig(m=6, activation="leaky_relu", leak=0.3),
                    problem=pt.ProblemConfig(d=3, m0=2), seed=4)
    sim = pt.Simulation(cfg)
    prob = sim.problem
    assert prob.leak == 0.3
    exact = sim.oracle.risk(sim.theta0)
    rng = np.random.default_rng(8)
    n = 200_000
    X = problems.sample_inputs(rng, n, 3)
    f = np.empty(n)
    forward(sim.theta0, X, pt.ACTIVATIONS["leaky_relu"], 0.3, False, 1.0 / sim.m, f)
    loss = 0.5 * (f - prob.labels(X)) ** 2
    np.testing.assert_allclose(exact, loss.mean(), rtol=0,
                               atol=5 * loss.std() / math.sqrt(n))


@pytest.mark.parametrize("d,m,n", [(2, 100, 5000), (8, 80, 6000), (40, 50, 3000)])
def test_sampled_kernel_does_not_depend_on_threads(d, m, n, rng):
    """The lanes are fixed and reduced in a fixed order: 1 and 2 threads agree bit for bit
    on every path that runs on the pool."""
    import numba

    from particles._numba.threads import pool_owner

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: 1 and 2 threads cannot be compared")
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    th = _theta(rng, m, d, True)
    o = oracles.sample_oracle(X, y, m, activation="relu", bias=True)
    out = []
    for threads in (1, 2):
        with pool_owner(threads):
            out.append(o.velocity(th))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_exact_biased_rows_against_scalar_pairs(act, rng):
    """The vectorised rows for ReLU and erf with bias (every Genz rule, the scalar
    fallback at a correlation >= 0.925, the diagonal and off-diagonal blocks) against the
    velocity assembled pair by pair from the scalar pairs.*_pair_both (the formulas of
    the module docstring)."""
    from particles.kernels.pairs import erf_pair_both, relu_pair_both

    pair_both = relu_pair_both if act == "relu" else erf_pair_both
    d, m, alpha = 5, 300, 1.3
    prob = _problem(rng, d, act, True)
    base = rng.standard_normal(d)
    spread = np.geomspace(0.01, 5.0, m)[rng.permutation(m)]  # rho from ~1 down to ~0
    th = np.zeros((m, d + 2))
    th[:, 0] = rng.standard_normal(m)
    th[:, 1:d + 1] = base + spread[:, None] * rng.standard_normal((m, d))
    th[:, 1:d + 1] *= np.where(rng.random(m) < 0.5, -1.0, 1.0)[:, None]  # rho of both signs
    th[:, d + 1] = rng.normal(0, 1.5, m)
    if act == "erf":
        th[:, 1:d + 1] *= 2.0  # larger |a|: Williams' correlation re approaches rho
    r, v = oracles.exact_oracle(prob, m, alpha=alpha, activation=act, bias=True).velocity(th)
    both = np.vstack([th, prob.teacher])
    w = np.concatenate([alpha / m * th[:, 0], -prob.teacher[:, 0]])
    A = both[:, 1:d + 1]
    nrm = np.linalg.norm(A, axis=1)
    rho = np.clip(A @ A.T / np.outer(nrm, nrm), -1, 1)
    if act == "erf":
        q = np.sqrt(1 + 2 * nrm ** 2)
        corr = np.clip(2 * A @ A.T / np.outer(q, q), -1, 1)
    else:
        corr = rho
    hits = np.abs(corr[:m, :m][~np.eye(m, dtype=bool)])
    assert (hits >= 0.925).any() and ((hits >= 0.75) & (hits < 0.925)).any()
    vn = np.zeros_like(th)
    for i in range(m):
        s0 = s20 = s1 = 0.0
        s11 = np.zeros(d)
        for j in range(len(both)):
            a0, a11, a20, _, a1, _ = pair_both(th[i, d + 1], both[j, d + 1], nrm[i], nrm[j],
                                               1.0 if i == j else rho[i, j], True)
            s0 += w[j] * a0
            s20 += w[j] * a20
            s1 += w[j] * a1
            s11 += w[j] * a11 * A[j]
        vn[i, 0] = -s0 / alpha
        vn[i, 1:d + 1] = -th[i, 0] / alpha * (s20 * A[i] + s11)
        vn[i, d + 1] = -th[i, 0] / alpha * s1
    np.testing.assert_allclose(v, vn, rtol=0, atol=1e-12 * np.abs(vn).max())


def test_exact_risk_is_never_negative_at_a_global_minimum():
    """At a student that equals the teacher the closed form's terms cancel and rounding
    leaves about -1e-16 (the raw kernel value, for some of these teachers): the risk an
    oracle reports is clipped at 0, and NaN stays NaN."""
    raw_negative = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        for act, bias in (("relu", False), ("erf", True), ("relu", True)):
            prob = pt.teacher_student(3, 3, activation=act, bias=bias, rng=rng,
                                      output="gaussian")
            theta = np.repeat(prob.teacher, 2, axis=0)
            theta[:, 0] *= 3.0  # m = 6: f = (1/6) sum c sigma equals the teacher
            oracle = pt.exact_oracle(prob, 6, activation=act, bias=bias)
            raw = float(oracle._call(theta.copy(), oracle.data, np.empty_like(theta)))
            raw_negative += raw < 0
            risk = oracle.risk(theta.copy())
            assert 0.0 <= risk <= 1e-14, (seed, act, bias, risk)
    assert raw_negative > 0  # the case the clipping is for does occur
    oracle._call = lambda *args: float("nan")  # a NaN risk stays NaN (divergence shows)
    assert np.isnan(oracle.risk(theta.copy()))


def test_relu_pair_moments_closed_form_matches_the_kernels(rng):
    """pair_moments takes a NumPy arc-cosine form for bias-free ReLU (so that the
    default job compiles no general pair function for its teacher's constant); it
    equals the compiled pair functions, diagonal and a zero unit included."""
    from particles.kernels.pairs import gaussian_rules, pair_array
    from particles.oracles.exact import pair_moments
    from particles.registry import activation_code

    A = np.hstack([rng.standard_normal((6, 4)), np.zeros((6, 1))])
    A[2, :4] = 0.0
    A[3, :4] = -A[1, :4]  # rho = -1
    A[4, :4] = 2.5 * A[0, :4]  # rho = 1 off the diagonal
    code = activation_code("relu")
    rules = gaussian_rules(16)
    got = pair_moments(code, 0.01, False, A, A, rules)
    na = np.linalg.norm(A[:, :4], axis=1)
    i, j = (x.ravel() for x in np.meshgrid(np.arange(6), np.arange(6), indexing="ij"))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.nan_to_num((A[i, :4] * A[j, :4]).sum(1) / (na[i] * na[j]))
    rho[i == j] = 1.0
    out = np.empty((i.size, 4))
    pair_array(code, 0.01, False, np.zeros(i.size), np.zeros(i.size), na[i].copy(),
               na[j].copy(), np.clip(rho, -1, 1), *rules, out)
    # (the kernels floor a zero norm at 1e-150)
    np.testing.assert_allclose(got, out[:, 0].reshape(6, 6), rtol=1e-13, atol=1e-140)
    np.testing.assert_allclose(got[2], 0.0, atol=1e-140)
