"""Mean-field Langevin dynamics (integrator.temperature > 0): the Euler-Maruyama step
against its NumPy twin, the Ornstein-Uhlenbeck limit (stationary variance and weak
order 1 against closed forms), the T -> 0 limit, frozen layers, streams and resume,
the entropy estimator and the free energy, bad input.

Tolerances of Monte Carlo checks are computed from the standard errors.
"""
import math

import numpy as np
import pytest

import particles as pt
from particles.dynamics.integrators import FixedStep, noise_columns
from particles.dynamics.observables import entropy, objective
from particles.model.rng import stream

import naive


def _cfg(m=16, t_end=0.5, dt=0.05, temperature=0.01, wd=0.1, schedule="constant", seed=3,
         method="euler", oracle=None, bias=False, lr=(1.0, 1.0, 1.0), problem=None, **kw):
    oracle = oracle or pt.OracleConfig()
    problem = problem or pt.ProblemConfig(d=2, m0=2)
    return pt.Config(problem=problem, network=pt.NetworkConfig(m=m, bias=bias),
                     oracle=oracle,
                     integrator=pt.IntegratorConfig(
                         method=method, dt=dt, t_end=t_end, temperature=temperature,
                         temperature_schedule=schedule, weight_decay=wd, lr_c=lr[0],
                         lr_a=lr[1], lr_b=lr[2]),
                     record=pt.RecordConfig(kernel_probes=0), seed=seed, **kw)


# -- the compiled step against its NumPy twin -----------------------------------------

@pytest.mark.parametrize("schedule", ["constant", "log"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_euler_maruyama_against_numpy_twin(schedule, dtype, rng):
    """Same draws (the compiled loop and NumPy share the Generator's stream), same
    arithmetic: agreement to rounding, frozen layer and absent bias untouched."""
    m, d, n = 7, 3, 40
    X = rng.standard_normal((n, d))
    y = np.tanh(X[:, 0])
    o = pt.sample_oracle(X, y, m, activation="tanh", bias=True, dtype=dtype)
    theta = pt.initialize(rng, m, d, bias=True).astype(dtype)
    lr, wd, dt, temp = (1.0, 0.5, 2.0), 0.3, 0.02, 0.05
    integ = FixedStep("euler", o, dt, lr=lr, weight_decay=wd, temperature=temp,
                      temperature_schedule=schedule, diffusion=np.random.default_rng(11))
    state = pt.State(theta.copy(), step=5)  # a later start: T(t) reads the step count
    integ.advance(state, 12)
    ref = naive.euler_maruyama(
        lambda t: naive.sample_velocity(t, X.astype(dtype), y, "tanh", True)[1].astype(dtype),
        theta, dtype(dt), 12, np.random.default_rng(11), temp, np.ones(d + 2, bool), lr, wd,
        schedule, step0=5)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(state.theta, ref, rtol=tol, atol=tol)
    assert state.theta.dtype == dtype and state.step == 17


def test_noise_columns_follow_rates_and_bias():
    np.testing.assert_array_equal(noise_columns((1.0, 0.0, 2.0), 2, True),
                                  np.sqrt([2.0, 0.0, 0.0, 4.0]))
    np.testing.assert_array_equal(noise_columns((1.0, 0.5, 2.0), 2, False),
                                  np.sqrt([2.0, 1.0, 1.0, 0.0]))


@pytest.mark.parametrize("lr,bias", [((1.0, 0.0, 1.0), True), ((0.0, 1.0, 0.0), True),
                                     ((1.0, 1.0, 1.0), False)])
def test_frozen_layers_get_no_noise(lr, bias):
    cfg = _cfg(lr=lr, bias=bias, temperature=0.5)
    res = pt.simulate(cfg)
    d = 2
    cols = [(0, lr[0]), *((q, lr[1]) for q in range(1, d + 1)), (d + 1, lr[2] if bias else 0)]
    for q, rate in cols:
        if rate == 0:
            np.testing.assert_array_equal(res.theta[:, q], res.theta0[:, q])
        else:
            assert np.all(res.theta[:, q] != res.theta0[:, q])
    if not bias:
        assert np.all(res.theta[:, d + 1] == 0)


# -- Ornstein-Uhlenbeck: the data term vanishes --------------------------------------

def _ou(m, dt, t_end, temperature, wd, lr_c=1.0, seed=0):
    """Inputs at 0 and targets 0: a ReLU network's risk and velocity vanish exactly, so
    every coordinate follows d theta = -lr wd theta dt + sqrt(2 T lr) dB from theta = 0."""
    problem = pt.dataset(np.zeros((1, 2)), np.zeros(1))
    cfg = pt.Config(problem=pt.ProblemConfig(kind="dataset"), network=pt.NetworkConfig(m=m),
                    oracle=pt.OracleConfig(kind="dataset"),
                    integrator=pt.IntegratorConfig(dt=dt, t_end=t_end, temperature=temperature,
                                                   weight_decay=wd, lr_c=lr_c),
                    record=pt.RecordConfig(schedule="every", every=max(1, round(t_end / dt)),
                                           kernel_probes=0), seed=seed)
    res = pt.simulate(cfg, problem=problem, theta=np.zeros((m, 4)))
    return res.theta[:, :3]  # (c, a_1, a_2); no bias


def test_ou_stationary_variance_with_euler_maruyama_correction():
    """Euler-Maruyama's stationary variance is T / (wd (1 - h/2)) with h = lr wd dt, not
    the continuous T / wd: both are checked, 5 standard errors (docs/langevin.md)."""
    T, wd, dt, lr_c = 0.2, 1.0, 0.4, 0.5
    theta = _ou(40000, dt, 12.0, T, wd, lr_c=lr_c)  # 30 steps
    for q, rate in ((0, lr_c), (1, 1.0), (2, 1.0)):
        x = theta[:, q]
        var, se = np.mean(x * x), np.std(x * x) / math.sqrt(x.size)
        h = rate * wd * dt
        discrete = T / wd / (1 - h / 2) * (1 - (1 - h) ** (2 * 30))
        np.testing.assert_allclose(var, discrete, rtol=0, atol=5 * se)
        assert abs(var - T / wd) > 7 * se  # the correction is resolved
    np.testing.assert_allclose(theta.mean(0), 0.0, atol=5 * math.sqrt(T / wd / 40000))


@pytest.mark.slow  # 22 s of 40 000-particle runs at three steps; CI runs the slow group
def test_ou_weak_order_one():
    """E[theta_t^2] against the exact OU variance T/wd (1 - exp(-2 wd t)) at t = 1: the
    error halves with dt (weak order 1), the estimated order within 0.25 of 1."""
    T, wd, t = 1.0, 1.0, 1.0
    exact = T / wd * (1 - math.exp(-2 * wd * t))
    errs = []
    for dt in (0.2, 0.1, 0.05):
        x = _ou(60000, dt, t, T, wd, seed=1).ravel()
        var, se = np.mean(x * x), np.std(x * x) / math.sqrt(x.size)
        assert abs(var - exact) > 8 * se  # the bias is resolved at every dt
        errs.append(var - exact)
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    np.testing.assert_allclose(orders, 1.0, atol=0.25)


# -- limits, streams, resume ----------------------------------------------------------

def test_temperature_zero_is_the_noiseless_flow_and_small_t_converges_to_it():
    """T = 0 is today's flow bit for bit (no stream is drawn or stored); the noisy final
    state approaches it like sqrt(T)."""
    base = pt.simulate(_cfg(temperature=0.0))
    plain = pt.simulate(_cfg(temperature=0.0).replace(
        integrator=pt.IntegratorConfig(dt=0.05, t_end=0.5, weight_decay=0.1)))
    assert np.array_equal(base.theta, plain.theta)
    gaps = [np.linalg.norm(pt.simulate(_cfg(temperature=T)).theta - base.theta)
            for T in (1e-4, 1e-6, 1e-8)]
    np.testing.assert_allclose(np.array(gaps[:-1]) / np.array(gaps[1:]), 10.0, rtol=0.1)


def test_threads_do_not_change_a_noisy_run():
    cfg = _cfg(m=64, oracle=pt.OracleConfig(kind="sampled", n=300), temperature=0.05)
    a = pt.simulate(cfg.replace(threads=1))
    b = pt.simulate(cfg.replace(threads=2))
    assert np.array_equal(a.theta, b.theta)


def test_seeds_keep_their_meaning():
    """The diffusion has its own stream: the run seed changes it, init.seed does not."""
    cfg = _cfg()
    a = pt.simulate(cfg)
    b = pt.simulate(cfg.replace(seed=4, init=pt.InitConfig(seed=3),
                                problem=cfg.problem.replace(seed=3)))
    assert np.array_equal(a.theta0, b.theta0)
    assert not np.array_equal(a.theta, b.theta)
    # the noise is the run's stream "diffusion", nothing else
    sim = pt.Simulation(cfg)
    ref = stream(cfg.seed, "diffusion").standard_normal(8)
    assert np.array_equal(sim.integrator.diffusion.standard_normal(8), ref)


@pytest.mark.parametrize("method,oracle", [("euler", "exact"), ("sgd", "online")])
def test_resume_noisy_run_bit_for_bit(method, oracle, tmp_path):
    oc = (pt.OracleConfig(kind=oracle, batch=16, n_monitor=200) if oracle == "online"
          else pt.OracleConfig(kind=oracle))
    full = pt.simulate(_cfg(method=method, oracle=oc, t_end=1.0, schedule="log"))
    pt.run(_cfg(method=method, oracle=oc, t_end=0.5, schedule="log"), tmp_path / "r.h5")
    with pt.load(tmp_path / "r.h5") as run:
        names = set(run.state["streams"])
    assert "diffusion" in names and (oracle != "online" or "noise" in names)
    res = pt.resume(tmp_path / "r.h5", t_end=1.0)
    assert np.array_equal(res.theta, full.theta)


def test_resume_refuses_a_checkpoint_without_the_diffusion_state(tmp_path):
    import json

    import h5py

    out = tmp_path / "r.h5"
    calls = []
    pt.run(_cfg(t_end=2.0, dt=0.01), out, interrupted=lambda: calls.append(1) or len(calls) > 3)
    with h5py.File(out, "r+") as f:
        ck = f["parameters/checkpoint"]
        slot = int(ck["active"][()])
        state = json.loads(ck["state"][slot].decode())
        assert state["step"] > 0 and "diffusion" in state["streams"]
        del state["streams"]["diffusion"]
        ck["state"][slot] = np.bytes_(json.dumps(state).encode())
    with pytest.raises(ValueError, match="lacks the state of the random stream 'diffusion'"):
        pt.resume(out)


# -- observables ---------------------------------------------------------------------

@pytest.mark.parametrize("D,k", [(1, 1), (3, 3), (5, 3)])
def test_entropy_of_gaussian_cloud(D, k, rng):
    """Kozachenko-Leonenko against H = D/2 log(2 pi e) + 1/2 log det S, over 40 clouds
    of 2000 points: the mean within 4 standard errors plus the stated bias bound."""
    A = np.tril(rng.standard_normal((D, D))) + 2 * np.eye(D)
    S = A @ A.T
    exact = 0.5 * D * math.log(2 * math.pi * math.e) + 0.5 * np.linalg.slogdet(S)[1]
    est = np.array([entropy(rng.standard_normal((2000, D)) @ A.T, k=k) for _ in range(40)])
    se = est.std(ddof=1) / math.sqrt(est.size)
    bias_bound = 0.03 * D  # measured at m = 2000: -0.027 (D = 3), -0.078 (D = 5)
    np.testing.assert_allclose(est.mean(), exact, rtol=0, atol=4 * se + bias_bound)
    assert est.std() < 0.2  # a usable estimate from one cloud


def test_entropy_columns_duplicates_and_errors(rng):
    x = rng.standard_normal((500, 4))
    np.testing.assert_allclose(entropy(x, [True, False, True, False]), entropy(x[:, [0, 2]]))
    assert entropy(np.vstack([x, x[:1]]), k=1) == -np.inf  # an atom of mass > k/m
    assert math.isfinite(entropy(np.vstack([x, x[:1]]), k=3))
    assert math.isnan(entropy(x[:3], k=3))
    with pytest.raises(ValueError, match="k=0"):
        entropy(x, k=0)
    with pytest.raises(ValueError, match="no coordinate"):
        entropy(x, np.zeros(4, bool))
    # an affine map adds log|det|
    np.testing.assert_allclose(entropy(3.0 * x), entropy(x) + 4 * math.log(3.0), rtol=1e-12)


def test_records_hold_objective_entropy_free_energy():
    cfg = _cfg(m=40, temperature=0.02, schedule="log")
    res = pt.simulate(cfg)
    obs = res.observables
    assert {"objective", "entropy", "free_energy"} <= set(obs)
    sim = pt.Simulation(cfg)
    theta = res.theta
    risk = sim.oracle.risk(np.ascontiguousarray(theta))
    np.testing.assert_allclose(obs["objective"][-1], objective(risk, theta, 0.1, 1.0), rtol=1e-12)
    cols = np.array([True, True, True, False])
    np.testing.assert_allclose(obs["entropy"][-1], entropy(theta, cols), rtol=1e-12)
    T = pt.temperature_at(res.obs_times[-1], 0.02, "log")
    np.testing.assert_allclose(obs["free_energy"][-1], obs["objective"][-1] - T * obs["entropy"][-1],
                               rtol=1e-12)
    # without noise: no entropy, and the objective only with weight decay
    quiet = pt.simulate(_cfg(temperature=0.0, wd=0.0)).observables
    assert not {"objective", "entropy", "free_energy"} & set(quiet)


def test_temperature_schedules():
    np.testing.assert_allclose(pt.temperature_at(np.array([0.0, 10.0]), 2.0, "log"),
                               [2.0, 2.0 / math.log(math.e + 10.0)])
    assert pt.temperature_at(3.0, 2.0) == 2.0
    with pytest.raises(ValueError, match="'constant', 'log'"):
        pt.temperature_at(1.0, 1.0, "cosine")


# -- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("kw,match", [
    (dict(temperature=-1.0), r"integrator.temperature=-1.0 is invalid.*>= 0"),
    (dict(temperature=float("inf")), r"integrator.temperature=inf is invalid.*finite"),
    (dict(temperature=0.1, method="rk45"), r"integrator.temperature=0.1 .*'euler' or 'sgd'"),
    (dict(temperature=0.1, method="heun"), r"integrator.temperature=0.1 .*Heun"),
    (dict(temperature=0.1, temperature_schedule="cosine"),
     r"integrator.temperature_schedule='cosine'.*'constant', 'log'"),
    (dict(temperature_schedule="log"), r"integrator.temperature_schedule='log'.*nothing to anneal"),
])
def test_bad_temperature_config(kw, match):
    with pytest.raises(pt.ConfigError, match=match):
        pt.IntegratorConfig(**kw)


def test_bad_temperature_command_exits_2(tmp_path, capsys):
    from particles.cli import main

    out = tmp_path / "x.h5"
    code = main(["run", "-o", str(out), "--no-animate", "--set", "integrator.method=rk45",
                 "--set", "integrator.temperature=0.1"])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "integrator.temperature" in err and "'euler' or 'sgd'" in err


def test_fixed_step_refuses_noise_without_stream():
    o = pt.exact_oracle(pt.teacher_student(2, 2, rng=np.random.default_rng(0)), 4)
    with pytest.raises(ValueError, match="diffusion=None"):
        FixedStep("euler", o, 0.1, temperature=0.1)
    with pytest.raises(ValueError, match="temperature=-0.1"):
        FixedStep("euler", o, 0.1, temperature=-0.1)
    with pytest.raises(ValueError, match="heun"):
        FixedStep("heun", o, 0.1, temperature=0.1, diffusion=np.random.default_rng(0))


# -- views and the figure's numbers -------------------------------------------------------

def test_plot_free_energy_and_info(tmp_path, capsys):
    from particles.cli import main

    noisy, quiet = tmp_path / "noisy.h5", tmp_path / "quiet.h5"
    pt.run(_cfg(m=24, t_end=1.0, temperature=0.01, schedule="log"), noisy)
    pt.run(_cfg(m=24, t_end=1.0, temperature=0.0), quiet)
    png = tmp_path / "fe.png"
    assert main(["plot", str(noisy), "--kind", "free-energy", "-o", str(png)]) == 0
    assert png.stat().st_size > 10_000
    assert main(["info", str(noisy)]) == 0
    assert "langevin    temperature 0.01 / log(e + t), weight decay 0.1; free energy" in \
        capsys.readouterr().out
    assert main(["plot", str(quiet), "--kind", "free-energy", "-o", str(png)]) == 2
    assert "has no free_energy record" in capsys.readouterr().err


def test_fit_rate_recovers_an_exponential(rng):
    from particles.experiments.figures.langevin import fit_rate

    t = np.linspace(0, 40, 81)
    F = 0.5 + 2.0 * np.exp(-0.3 * t) + 1e-4 * rng.standard_normal(t.size)
    fit = fit_rate(t, F, t0=5.0)
    np.testing.assert_allclose(fit["rate"], 0.3, atol=5 * fit["rate_stderr"] + 1e-3)
    np.testing.assert_allclose(fit["F_inf"], 0.5, atol=1e-3)
    assert fit["r2"] > 0.999
    assert math.isnan(fit_rate(t[:3], F[:3])["rate"])  # too few points: no fit


def test_langevin_checks_fail_on_the_wrong_shape():
    from particles.experiments.figures import langevin

    fit = {"rate": 0.2, "rate_stderr": 0.01, "r2": 0.99, "F_inf": 0.0, "A": 1.0, "t0": 5.0}
    fe = [{"panel": "free_energy", "temperature": T, "mean": [1.0, 0.5], "fit": dict(fit)}
          for T in (0.0, 0.01, 0.1)]
    risk = {"panel": "risk", "x": [0.01, 0.1], "mean": [2e-3, 3e-3],
            "noiseless": {"mean": 1e-3}}
    fd = {"panel": "chaos", "fit": {"slope": -0.5, "slope_high": -0.3}}
    gap = {"panel": "chaos", "fit": {"slope": -1.0}}
    good = {"curves": fe + [risk, fd, gap]}
    assert all(c["passed"] for c in langevin.checks(good))
    bad_risk = dict(risk, mean=[3e-3, 2e-3])
    bad_fd = dict(fd, fit={"slope": 0.1, "slope_high": 0.3})
    rising = [dict(c, mean=[0.5, 1.0]) for c in fe]
    for curves, which in ((fe + [bad_risk, fd, gap], "has a price"),
                          (fe + [risk, bad_fd, gap], "propagation of chaos"),
                          (rising + [risk, fd, gap], "free energy falls")):
        failed = [c["check"] for c in langevin.checks({"curves": curves}) if not c["passed"]]
        assert len(failed) == 1 and which in failed[0]


@pytest.mark.parametrize("case", ["sampled", "dataset", "tangent", "float32"])
def test_every_oracle_and_dtype_runs_noisy(case):
    """A temperature > 0 works with every deterministic oracle, the tangent model and
    float32; the records hold a finite free energy."""
    kw = {}
    oracle = pt.OracleConfig(kind="sampled", n=200)
    problem = None
    if case == "dataset":
        rng = np.random.default_rng(0)
        X = rng.standard_normal((50, 2))
        problem = pt.dataset(X, np.maximum(X[:, 0], 0))
        oracle = pt.OracleConfig(kind="dataset")
        kw["problem"] = pt.ProblemConfig(kind="dataset")
    cfg = _cfg(m=20, oracle=oracle, temperature=0.01, bias=True,
               dtype="float32" if case == "float32" else "float64", **kw)
    if case == "tangent":
        cfg = cfg.replace(network=cfg.network.replace(model="tangent"))
    res = pt.simulate(cfg, problem=problem)
    assert res.status == "complete"
    assert res.theta.dtype == (np.float32 if case == "float32" else np.float64)
    assert np.all(np.isfinite(res.observables["free_energy"]))
    assert not np.array_equal(res.theta[:, 3], res.theta0[:, 3])  # the bias diffuses
