"""Integrators: monotone loss, orders of accuracy, the ReLU conservation law,
permutation equivariance, symmetric initialisation, loss at initialisation,
reproducibility and precision."""
import math

import numpy as np
import pytest

import particles as pt
from particles import oracles
from particles.model import problems
from particles.dynamics.integrators import FixedStep, OdeDriver
from particles.kernels.network import forward


def _cfg(**kw):
    sec = {"network": pt.NetworkConfig(m=kw.pop("m", 6), activation=kw.pop("act", "relu"),
                                       bias=kw.pop("bias", False)),
           "integrator": pt.IntegratorConfig(method=kw.pop("method", "euler"),
                                             dt=kw.pop("dt", 0.01), t_end=kw.pop("t_end", 1.0),
                                             rtol=kw.pop("rtol", 1e-8), atol=kw.pop("atol", 1e-10)),
           "init": pt.InitConfig(tau=kw.pop("tau", 0.7), symmetric=kw.pop("symmetric", False)),
           "problem": pt.ProblemConfig(d=kw.pop("d", 3), m0=2,
                                       teacher_bias=kw.pop("teacher_bias", False))}
    return pt.Config(**sec, **kw)


def _advance(oracle, theta, method, dt, t_end):
    th = theta.copy()
    if method in ("euler", "heun"):
        integ = FixedStep(method, oracle, dt)
        rep = integ.advance(pt.State(th), int(round(t_end / dt)))
        assert rep.steps == int(round(t_end / dt))
    else:
        OdeDriver(method, oracle, t_end, rtol=1e-12, atol=1e-14).advance(pt.State(th), 1)
    return th


@pytest.fixture(scope="module")
def smooth_flow():
    rng = np.random.default_rng(11)
    prob = problems.teacher_student(3, 2, activation="erf", bias=True, rng=rng)
    oracle = oracles.exact_oracle(prob, 5, activation="erf", bias=True)
    theta = pt.initialize(rng, 5, 3, tau=0.8, bias=True)
    ref = _advance(oracle, theta, "dop853", None, 0.5)
    return oracle, theta, ref


@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2)])
def test_order_of_accuracy(smooth_flow, method, order):
    oracle, theta, ref = smooth_flow
    dts = np.array([0.02, 0.01, 0.005])
    errs = [np.max(np.abs(_advance(oracle, theta, method, dt, 0.5) - ref)) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.1, (slope, errs)


def test_loss_never_increases_for_a_small_step():
    res = pt.simulate(_cfg(dt=0.01, t_end=3.0, record=pt.RecordConfig(schedule="every", every=1,
                                                                      observables_factor=1)))
    r = res.observables["risk"]
    assert r.size == 301
    assert np.all(np.diff(r) <= 1e-15 * r[:-1])
    assert r[-1] < 0.5 * r[0]


def test_energy_identity():
    """dF/dt = -(1/m) sum |v_i|^2 (alpha = 1): compare with a centred difference."""
    res = pt.simulate(_cfg(method="rk45", dt=0.01, t_end=0.5, rtol=1e-11, atol=1e-13,
                           record=pt.RecordConfig(schedule="every", every=1,
                                                  observables_factor=1)))
    r, g, t = res.observables["risk"], res.observables["grad_norm2"], res.obs_times
    drdt = (r[2:] - r[:-2]) / (t[2:] - t[:-2])
    np.testing.assert_allclose(drdt, -g[1:-1], rtol=2e-3, atol=1e-7)


def test_conservation_law_euler_drift_is_first_order():
    drifts = []
    dts = [0.02, 0.01, 0.005]
    for dt in dts:
        res = pt.simulate(_cfg(dt=dt, t_end=2.0, bias=True, teacher_bias=True))
        drifts.append(res.observables["invariant_drift"][-1])
    slope = np.polyfit(np.log(dts), np.log(drifts), 1)[0]
    assert abs(slope - 1) < 0.15, (slope, drifts)


def test_conservation_law_under_accuracy_control():
    res = pt.simulate(_cfg(method="rk45", t_end=2.0, rtol=1e-10, atol=1e-12, bias=True,
                           teacher_bias=True))
    drift = res.observables["invariant_drift"]
    euler = pt.simulate(_cfg(dt=0.01, t_end=2.0, bias=True, teacher_bias=True))
    assert drift[-1] < 1e-7
    assert euler.observables["invariant_drift"][-1] > 1e3 * drift[-1]


def test_conservation_law_with_layer_rates():
    cfg = _cfg(method="dop853", t_end=1.0, rtol=1e-11, atol=1e-13)
    cfg = cfg.replace(integrator=cfg.integrator.replace(lr_c=2.0, lr_a=0.5))
    res = pt.simulate(cfg)
    assert res.observables["invariant_drift"][-1] < 1e-8
    assert res.observables["distance"][-1] > 0.05


def test_permuting_particles_permutes_the_trajectory(rng):
    cfg = _cfg(t_end=0.5, m=7, bias=True)
    sim = pt.Simulation(cfg)
    perm = rng.permutation(7)
    a = pt.simulate(cfg)
    b = pt.simulate(cfg, theta=sim.theta0[perm])
    np.testing.assert_allclose(b.theta, a.theta[perm], rtol=1e-12, atol=1e-14)


def test_symmetric_initialisation_outputs_zero(rng):
    theta = pt.initialize(rng, 10, 4, tau=1.3, bias=True, symmetric=True)
    X = rng.standard_normal((500, 4))
    f = np.empty(500)
    for code in range(6):
        forward(theta, X, code, 0.1, True, 3.0 / 10, f)
        assert np.all(f == 0.0)


def test_expected_loss_at_initialisation(rng):
    """E[R(f_m)] = R(0) + tau_c^2 tau_a^2 d / (4 m) for ReLU, c independent of a
    (docs/theory.md, "Identities the tests check"); average over 4000 initialisations, 5 standard errors."""
    d, m, tau = 3, 4, 0.9
    prob = problems.teacher_student(d, 2, rng=rng)
    o = oracles.exact_oracle(prob, m)
    r0 = o.risk(np.zeros((m, d + 2)))
    vals = np.array([o.risk(pt.initialize(rng, m, d, tau=tau)) for _ in range(4000)])
    expected = r0 + tau ** 4 * d / (4 * m)
    se = vals.std() / math.sqrt(vals.size)
    np.testing.assert_allclose(vals.mean(), expected, rtol=0, atol=5 * se)


@pytest.mark.parametrize("method,oracle", [("euler", "exact"), ("heun", "sampled"),
                                           ("sgd", "online"), ("rk45", "exact")])
def test_same_seed_same_result_bit_for_bit(method, oracle):
    sizes = {"sampled": {"n": 200}, "online": {"batch": 20}}.get(oracle, {})
    cfg = _cfg(method=method, t_end=0.3, oracle=pt.OracleConfig(kind=oracle, **sizes), seed=5)
    a, b = pt.simulate(cfg), pt.simulate(cfg)
    assert np.array_equal(a.theta, b.theta)
    assert np.array_equal(a.frames, b.frames)
    c = pt.simulate(cfg.replace(seed=6))
    assert not np.array_equal(a.theta, c.theta)


@pytest.mark.parametrize("oracle", ["exact", "sampled"])
def test_float32_agrees_with_float64(oracle):
    sizes = {"n": 300} if oracle == "sampled" else {}
    cfg = _cfg(t_end=1.0, oracle=pt.OracleConfig(kind=oracle, **sizes), bias=True)
    a = pt.simulate(cfg)
    b = pt.simulate(cfg.replace(dtype="float32"))
    assert b.theta.dtype == np.float32 and b.frames.dtype == np.float32
    np.testing.assert_allclose(b.theta, a.theta, rtol=0, atol=1e-4 * np.max(np.abs(a.theta)))
    np.testing.assert_allclose(b.observables["risk"], a.observables["risk"], rtol=1e-4)


def test_stop_on_risk_threshold():
    cfg = _cfg(t_end=50.0, dt=0.05)
    full = pt.simulate(cfg)
    target = full.observables["risk"][len(full.observables["risk"]) // 2]
    res = pt.simulate(cfg.replace(integrator=cfg.integrator.replace(stop_risk=float(target))))
    assert res.status == "stopped" and "risk threshold" in res.message
    assert res.time < 50.0
    assert res.observables["risk"][-1] <= target


def test_divergence_is_reported_and_keeps_records():
    cfg = _cfg(dt=5.0, t_end=5000.0, tau=3.0, act="relu")
    res = pt.simulate(cfg)
    assert res.status == "diverged"
    assert "smaller step" in res.message
    assert res.frames.shape[0] >= 1 and np.all(np.isfinite(res.frames))


def test_weight_decay_shrinks_invariants():
    """With weight decay lambda, dQ_i/dt = -2 lambda Q_i (docs/theory.md, "Invariants")."""
    lam, t_end = 0.3, 0.5
    cfg = _cfg(method="dop853", t_end=t_end, rtol=1e-11, atol=1e-13)
    cfg = cfg.replace(integrator=cfg.integrator.replace(weight_decay=lam))
    sim = pt.Simulation(cfg)
    res = sim.run()
    np.testing.assert_allclose(sim.invariants(res.theta),
                               sim.invariants(res.theta0) * math.exp(-2 * lam * t_end),
                               rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("method", ["euler", "heun"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_steps_against_naive_twin(method, dtype, rng):
    import naive
    from conftest import RTOL

    d, m = 3, 5
    X = rng.standard_normal((300, d))
    y = np.tanh(X[:, 0])
    o = oracles.sample_oracle(X, y, m, activation="tanh", bias=True, dtype=dtype)
    theta = pt.initialize(rng, m, d, tau=0.8, bias=True, dtype=dtype)
    lr, wd, dt = (2.0, 0.5, 1.5), 0.1, 0.05
    integ = FixedStep(method, o, dt, lr=lr, weight_decay=wd)
    got = theta.copy()
    integ.advance(pt.State(got), 20)
    ref = naive.fixed_steps(lambda t: naive.sample_velocity(t, X.astype(dtype), y, "tanh",
                                                            True)[1].astype(dtype),
                            theta, method, dtype(dt), 20, lr, wd)
    tol = RTOL[dtype]
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    assert got.dtype == dtype


def test_observables_kernel_against_naive(rng):
    import naive

    cfg = _cfg(bias=True)
    cfg = cfg.replace(integrator=cfg.integrator.replace(lr_c=2.0, weight_decay=0.1))
    sim = pt.Simulation(cfg)
    theta = sim.theta0 + 0.1 * rng.standard_normal(sim.theta0.shape)
    obs = sim.observe(theta)
    _, v = sim.oracle.velocity(theta)
    ref = naive.summaries(theta, v, sim.theta0, (2.0, 1.0, 1.0), 0.1)
    np.testing.assert_allclose([obs["grad_norm2"], obs["distance"], obs["invariant_drift"]],
                               ref, rtol=1e-12)
    # the Observer's fused pass equals the pure observables it stands for
    from particles.dynamics import observables as ob

    lr = (2.0, 1.0, 1.0)
    np.testing.assert_allclose([obs["grad_norm2"], obs["distance"], obs["invariant_drift"]],
                               [ob.grad_norm2(v, theta, 0.1), ob.distance(theta, sim.theta0),
                                ob.invariant_drift(theta, sim.theta0, lr)], rtol=1e-12)


@pytest.mark.parametrize("scaling,s_of_m", [("mean_field", lambda m: 1 / m),
                                             ("ntk", lambda m: m ** -0.5),
                                             ("standard", lambda m: 1.0)])
def test_scalings_match_plain_gradient_descent(scaling, s_of_m, rng):
    """f = s(m) sum_i c_i relu(a_i . x); NumPy gradient descent with step eta on
    R = mean((f - y)^2)/2 equals the library's Euler run with dt = eta alpha_eff^2 / m."""
    n, d, m, eta, steps = 40, 2, 6, 0.05, 30
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ np.array([1.0, -0.5]), 0.0)
    theta0 = pt.initialize(rng, m, d, tau=0.7)
    c, a = theta0[:, 0].copy(), theta0[:, 1:d + 1].copy()
    s = s_of_m(m)
    for _ in range(steps):  # the paper's loop
        z = X @ a.T
        h = np.maximum(z, 0.0)
        r = s * h @ c - y
        gc = s * h.T @ r / n
        ga = s * ((z > 0) * r[:, None] * c[None, :]).T @ X / n
        c -= eta * gc
        a -= eta * ga
    net = pt.NetworkConfig(m=m, scaling=scaling)
    cfg = pt.Config(problem=pt.ProblemConfig(kind="dataset", d=d), network=net,
                    oracle=pt.OracleConfig(kind="dataset"),
                    integrator=pt.IntegratorConfig(dt=net.dt_for_step(eta),
                                                   t_end=steps * net.dt_for_step(eta)))
    res = pt.simulate(cfg, theta=theta0, problem=pt.dataset(X, y))
    assert res.step == steps
    np.testing.assert_allclose(res.theta[:, 0], c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.theta[:, 1:d + 1], a, rtol=1e-10, atol=1e-12)


def test_a_zero_rate_freezes_its_layer():
    cfg = _cfg(dt=0.05, t_end=2.0)
    cfg = cfg.replace(integrator=cfg.integrator.replace(lr_a=0.0, lr_b=0.0))
    res = pt.simulate(cfg)
    np.testing.assert_array_equal(res.theta[:, 1:], res.theta0[:, 1:])
    assert not np.array_equal(res.theta[:, 0], res.theta0[:, 0])
    assert res.observables["risk"][-1] < res.observables["risk"][0]
    with pytest.raises(pt.ConfigError, match="at least one layer"):
        pt.IntegratorConfig(lr_c=0.0, lr_a=0.0, lr_b=0.0)


def test_batch_loss_is_the_mean_minibatch_loss_since_the_last_record():
    cfg = pt.Config(problem=pt.ProblemConfig(inputs="gaussian"),
                    oracle=pt.OracleConfig(kind="online", batch=40, n_monitor=0),
                    integrator=pt.IntegratorConfig(method="sgd", dt=0.05, t_end=3.0, chunk=7),
                    record=pt.RecordConfig(schedule="every", every=12, observables_factor=2,
                                           particles="ends"))
    res = pt.simulate(cfg)
    assert res.frames.shape[0] == 2  # particles only at the ends
    sim = pt.Simulation(cfg)
    state = sim.new_state()
    losses = [sim.integrator.advance(state, 1).risk for _ in range(sim.n_steps)]
    steps = res.obs_steps
    expected = [np.nan] + [np.mean(losses[a:b]) for a, b in zip(steps[:-1], steps[1:])]
    np.testing.assert_allclose(res.observables["batch_loss"], expected, rtol=1e-12)
