"""Sparse deconvolution on the torus and the Wasserstein-Fisher-Rao (conic) flow.

The exact oracle against its quadrature twin (tests/naive.py), Monte Carlo and finite
differences; the conic step against its NumPy twin, the closed form of the mass dynamics
for a frozen first variation and its order of accuracy; recovery of the example's and
of other spikes with a global certificate; polish; resume bit for bit; bad input.
"""
import json
import math
import os
from collections import namedtuple

import numpy as np
import pytest

import particles as pt
from particles.analysis import deconvolution as dcert
from particles.cli.main import main
from particles.config import from_dict, load_toml
from particles.dynamics.conic import ConicStep
from particles.kernels.dispatch import register
from particles.model.deconvolution import draw_spikes, torus_distance
from particles.model.state import State

import naive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "data", "deconvolution.toml")


def _problem(noise=0.05, reg=0.02, seed=4, cutoff=7):
    return pt.deconvolution([0.1, 0.42, 0.77], [1.2, -0.7, 0.5], cutoff=cutoff, noise=noise,
                            reg=reg, seed=seed)


def _particles(rng, m=30):
    theta = np.zeros((m, 3))
    theta[:, 0] = rng.standard_normal(m)
    theta[:, 1] = rng.random(m)
    return theta


# -- the oracle ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_oracle_against_quadrature_twin(dtype, rng):
    prob = _problem()
    theta = _particles(rng).astype(dtype)
    risk, v = pt.deconvolution_oracle(prob, theta.shape[0], dtype).velocity(theta)
    r2, v2 = naive.deconvolution_velocity(theta, prob.yc, prob.ys)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(risk, r2, rtol=tol)
    np.testing.assert_allclose(v, v2, rtol=tol, atol=tol * np.abs(v2).max())


def test_oracle_against_pairwise_closed_form(rng):
    """Noise-free: 1/2 ||Phi(mu - mu*)||^2 = 1/2 sum over pairs of weights psi(p - q)."""
    prob = _problem(noise=0.0)
    theta = _particles(rng)
    m = theta.shape[0]
    w = np.concatenate([theta[:, 0] / m, -prob.spikes[:, 1]])
    p = np.concatenate([theta[:, 1], prob.spikes[:, 0]])
    pair = 0.5 * w @ naive.dirichlet(np.subtract.outer(p, p), prob.cutoff) @ w
    np.testing.assert_allclose(pt.deconvolution_oracle(prob, m).risk(theta), pair, rtol=1e-12)


def test_data_term_against_monte_carlo(rng):
    """1/2 int (Phi mu - y)^2 over uniform x: the mean within 4 standard errors."""
    prob = _problem()
    theta = _particles(rng)
    m = theta.shape[0]
    x = rng.random(200_000)
    u = naive.dirichlet(np.subtract.outer(x, theta[:, 1]), prob.cutoff) @ theta[:, 0] / m \
        - naive.observation(x, prob.yc, prob.ys)
    sample = 0.5 * u * u
    se = sample.std(ddof=1) / math.sqrt(sample.size)
    exact = pt.deconvolution_oracle(prob, m).risk(theta)
    assert abs(sample.mean() - exact) <= 4 * se, (sample.mean(), exact, se)


def test_velocity_against_finite_differences(rng):
    """v_i = -m dJ/dtheta_i (data term), by central differences in c_i and p_i."""
    prob = _problem()
    theta = _particles(rng, m=6)
    o = pt.deconvolution_oracle(prob, 6)
    _, v = o.velocity(theta.copy())
    h = 1e-6
    fd = np.zeros_like(theta)
    for i in range(6):
        for q in (0, 1):
            tp, tm = theta.copy(), theta.copy()
            tp[i, q] += h
            tm[i, q] -= h
            fd[i, q] = -6 * (o.risk(tp) - o.risk(tm)) / (2 * h)
    np.testing.assert_allclose(v[:, :2], fd[:, :2], rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    assert np.all(v[:, 2] == 0)


def test_first_variation_and_its_derivatives(rng):
    prob = _problem()
    theta = _particles(rng)
    fv = prob.first_variation(theta)
    _, v = pt.deconvolution_oracle(prob, theta.shape[0]).velocity(theta.copy())
    np.testing.assert_allclose(fv(theta[:, 1]), -v[:, 0], rtol=1e-12, atol=1e-12)
    p = rng.random(20)
    h = 1e-5
    np.testing.assert_allclose(fv.derivative(p), (fv(p + h) - fv(p - h)) / (2 * h), rtol=1e-6,
                               atol=1e-6 * np.abs(fv.derivative(p)).max())
    np.testing.assert_allclose(fv.derivative(p, 2),
                               (fv.derivative(p + h) - fv.derivative(p - h)) / (2 * h),
                               rtol=1e-6, atol=1e-6 * np.abs(fv.derivative(p, 2)).max())


def test_noise_is_iid_on_the_real_fourier_coefficients():
    """E ||noise||^2 = (2K + 1) sigma^2, over seeds: within 4 standard errors."""
    K, sigma = 5, 0.3
    clean = pt.deconvolution([0.3], [1.0], cutoff=K)
    norms = []
    for seed in range(400):
        p = pt.deconvolution([0.3], [1.0], cutoff=K, noise=sigma, seed=seed)
        dc, ds = p.yc - clean.yc, p.ys - clean.ys
        norms.append(dc[0] ** 2 + 2 * np.sum(dc[1:] ** 2 + ds[1:] ** 2))
    norms = np.array(norms)
    se = norms.std(ddof=1) / math.sqrt(norms.size)
    assert abs(norms.mean() - (2 * K + 1) * sigma ** 2) <= 4 * se
    again = pt.deconvolution([0.3], [1.0], cutoff=K, noise=sigma, seed=7)
    np.testing.assert_array_equal(again.yc, pt.deconvolution([0.3], [1.0], cutoff=K,
                                                             noise=sigma, seed=7).yc)


def test_drawn_spikes_are_separated(rng):
    for m0, K in ((1, 3), (4, 20), (8, 20), (30, 100)):
        p, w = draw_spikes(rng, m0, K)
        assert p.size == m0 and np.all((p >= 0) & (p < 1)) and np.all(np.abs(w) >= 0.5)
        if m0 > 1:
            d = torus_distance(p[:, None], p[None, :]) + np.eye(m0)
            assert d.min() >= 2.5 / K - 1e-12


# -- the conic step --------------------------------------------------------------------

@pytest.mark.parametrize("wfr", [True, False])
def test_conic_step_against_numpy_twin(wfr, rng):
    prob = _problem()
    theta = _particles(rng)
    theta[:, 0] *= 0.3
    oracle = pt.deconvolution_oracle(prob, theta.shape[0])
    step = ConicStep("euler", oracle, 1e-3, geometry="wfr" if wfr else "wasserstein",
                     fr_rate=2.0, lr=(1.5, 1e-3, 1.0))
    state = State(theta.copy())
    step.advance(state, 40)
    twin = naive.conic_steps(lambda t: naive.deconvolution_velocity(t, prob.yc, prob.ys)[1],
                             theta, 1e-3, 40, fr=2.0, reg=prob.reg, lr=(1.5, 1e-3, 1.0),
                             wfr=wfr, period=1.0)
    np.testing.assert_allclose(state.theta, twin, rtol=1e-10, atol=1e-12)
    assert state.step == 40 and np.all((state.theta[:, 1] >= 0) & (state.theta[:, 1] < 1))
    if wfr:  # signs never change
        np.testing.assert_array_equal(np.sign(state.theta[:, 0]), np.sign(theta[:, 0]))


FrozenData = namedtuple("FrozenData", "V grad")


def _frozen(theta, data, out):
    # a first variation that does not depend on the measure: v = (-V, -c V', 0)
    for i in range(theta.shape[0]):
        out[i, 0] = -data.V[i]
        out[i, 1] = -theta[i, 0] * data.grad[i]
        out[i, 2] = 0.0
    return 0.0


class _FrozenOracle:
    model, kind, d, streams, reg, period, alpha = "full", "frozen", 1, {}, 0.3, 0.0, 1.0

    def __init__(self, V, grad):
        self.m = V.size
        self.dtype = np.dtype(np.float64)
        self.data = FrozenData(V, grad)

    def check(self, theta, name="theta"):
        assert theta.shape == (self.m, 3)

    def velocity(self, theta, out=None):
        out = np.empty_like(theta) if out is None else out
        return _frozen(theta, self.data, out), out


def test_wfr_mass_dynamics_match_the_closed_form_for_a_frozen_first_variation(rng):
    """d|c|/dt = -alpha |c| (s V + lam): |c(t)| = |c0| exp(-alpha t (s V + lam)), which the
    multiplicative step reproduces exactly; positions move at -beta s V' per unit mass."""
    import numba

    register(FrozenData, numba.njit(_frozen))
    m = 8
    V, grad = rng.standard_normal(m), rng.standard_normal(m)
    oracle = _FrozenOracle(V, grad)
    theta0 = np.zeros((m, 3))
    theta0[:, 0] = rng.standard_normal(m)
    theta0[:, 1] = rng.random(m)
    step = ConicStep("euler", oracle, 0.01, geometry="wfr", fr_rate=1.7, lr=(1.0, 0.2, 1.0))
    state = State(theta0.copy())
    step.advance(state, 100)
    s = np.sign(theta0[:, 0])
    t = 1.0
    np.testing.assert_allclose(state.theta[:, 0],
                               theta0[:, 0] * np.exp(-1.7 * t * (s * V + 0.3)), rtol=1e-12)
    np.testing.assert_allclose(state.theta[:, 1], theta0[:, 1] - 0.2 * t * s * grad,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("geometry", ["wfr", "wasserstein"])
def test_conic_step_is_first_order(geometry):
    """Errors at t = 0.2 against dt / 64 halve with dt (ratios within [1.7, 2.3])."""
    prob = _problem(noise=0.0, reg=0.0)
    m = 12
    theta0 = np.zeros((m, 3))
    theta0[:, 0] = 0.5 * np.where(np.arange(m) % 2, -1.0, 1.0)
    theta0[:, 1] = (np.arange(m) + 0.5) / m
    oracle = pt.deconvolution_oracle(prob, m)

    def run(dt):
        state = State(theta0.copy())
        ConicStep("euler", oracle, dt, geometry=geometry, fr_rate=1.0,
                  lr=(1.0, 1e-3, 1.0)).advance(state, int(round(0.2 / dt)))
        return state.theta

    ref = run(0.02 / 64)
    errs = [np.abs(run(dt) - ref).max() for dt in (0.02, 0.01, 0.005)]
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert all(1.7 <= r <= 2.3 for r in ratios), (errs, ratios)


# -- runs: recovery, certificate, polish, resume ---------------------------------------

def _short_run(tmp_path, name, t_end, frames=2):
    """The example run up to ``t_end`` into ``tmp_path/name``; returns (config, path)."""
    cfg = load_toml(EXAMPLE)
    cfg = cfg.replace(integrator=cfg.integrator.replace(t_end=t_end),
                      record=cfg.record.replace(frames=frames))
    out = tmp_path / name
    pt.run(cfg, out)
    return cfg, out


def test_the_example_recovers_its_spikes_and_certifies(tmp_path):
    out = tmp_path / "dec.h5"
    assert main(["run", EXAMPLE, "-o", str(out), "--no-animate", "-q"]) == 0
    cfg = load_toml(EXAMPLE)
    with pt.load(out) as run:
        theta = run.checkpoint()["theta"]
        prob = run.problem()
    np.testing.assert_array_equal(prob.spikes, np.array(cfg.problem.spikes))
    pos, mass, stray = dcert.recovery(theta, prob.spikes, prob.cutoff)
    assert pos < 5e-3 and mass < 0.05 and stray < 0.01, (pos, mass, stray)
    assert main(["certify", str(out), "--json"]) == 0
    with pt.load(out) as run:
        from particles.io.annotate import read_annotation

        cert = read_annotation(run.f, "certificate")
    assert cert["classification"] == "global" and cert["value"] <= 0.1 * 1.01


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_other_spikes_are_recovered_too(seed):
    """The example's settings with 4 spikes drawn 2.5 / cutoff apart (random signs)."""
    cfg = load_toml(EXAMPLE)
    cfg = cfg.replace(seed=seed, problem=cfg.problem.replace(spikes=(), m0=4),
                      record=cfg.record.replace(frames=2))
    res = pt.simulate(cfg)
    pos, mass, stray = dcert.recovery(res.theta, res.problem.spikes, 20)
    assert pos < 5e-3 and mass < 0.05 and stray < 0.01, (pos, mass, stray)
    cert = dcert.certificate(res.theta, res.problem)
    assert cert["classification"] == "global", cert


def test_certificate_separates_optimal_from_not_optimal(rng):
    prob = _problem(noise=0.0, reg=0.0)
    exact = np.zeros((3, 3))
    exact[:, 0] = prob.spikes[:, 1] * 3
    exact[:, 1] = prob.spikes[:, 0]
    good = dcert.certificate(exact, prob)
    assert good["classification"] == "global" and good["value"] < 1e-12
    moved = exact.copy()
    moved[0, 1] += 0.02
    bad = dcert.certificate(moved, prob)
    assert bad["classification"] == "not global" and bad["value"] > 100 * good["value"]
    # the grid scan plus Newton finds the maximum a 10x denser scan finds
    fv = prob.first_variation(moved)
    dense = np.abs(fv(np.arange(200_000) / 200_000)).max()
    np.testing.assert_allclose(bad["value"], dense, rtol=1e-8)


def test_polish_lowers_the_gradient_and_keeps_signs(tmp_path):
    _, out = _short_run(tmp_path, "p.h5", 50.0)
    assert main(["polish", str(out), "--json"]) == 0
    with pt.load(out) as run:
        from particles.io.annotate import read_annotation

        rep = read_annotation(run.f, "polish")
        before = run.checkpoint()["theta"]
        after = run.f["optimality/polish/theta"][...]
    assert rep["grad_norm"] < 1e-3 * rep["grad_norm0"]
    assert np.all(np.sign(after[:, 0]) * np.sign(before[:, 0]) >= 0)
    with pt.load(out) as run:
        prob = run.problem()
    assert prob.objective(after) < prob.objective(before)


@pytest.mark.parametrize("geometry", ["wfr", "wasserstein"])
def test_resume_bit_for_bit(geometry, tmp_path):
    cfg = load_toml(EXAMPLE)
    ic = cfg.integrator.replace(geometry=geometry, t_end=4.0, fr_rate=1.0, dt=0.01)
    cfg = cfg.replace(integrator=ic, record=cfg.record.replace(frames=10))
    full = pt.simulate(cfg)
    pt.run(cfg.replace(integrator=ic.replace(t_end=2.0)), tmp_path / "r.h5")
    res = pt.resume(tmp_path / "r.h5", t_end=4.0)
    np.testing.assert_array_equal(res.theta, full.theta)


def test_problem_is_stored_exactly(tmp_path):
    prob = pt.deconvolution([0.1, 0.6], [0.9, -1.1], cutoff=9, noise=0.07, reg=0.03, seed=2)
    cfg = from_dict({"problem": {"kind": "deconvolution", "d": 1},
                     "network": {"m": 10}, "init": {"scheme": "uniform", "tau": 0.1},
                     "integrator": {"dt": 0.01, "t_end": 0.1, "geometry": "wfr",
                                    "lr_a": 1e-3}})
    pt.run(cfg, tmp_path / "s.h5", problem=prob)
    with pt.load(tmp_path / "s.h5") as run:
        back = run.problem()
        assert run.config.problem.cutoff == 9 and run.config.problem.reg == 0.03
    for name in ("spikes", "yc", "ys"):
        np.testing.assert_array_equal(getattr(back, name), getattr(prob, name))
    assert (back.noise, back.reg, back.cutoff) == (prob.noise, prob.reg, prob.cutoff)


def test_networks_train_in_the_wfr_geometry(tmp_path):
    """The default problem with integrator.geometry = wfr: the risk 100x lower."""
    out = tmp_path / "w.h5"
    assert main(["run", "-o", str(out), "--no-animate", "-q", "--set",
                 "integrator.geometry=wfr"]) == 0
    with pt.load(out) as run:
        _, _, risk = run.observable("risk")
        assert run.config.integrator.geometry == "wfr"
        assert "invariant_drift" not in run.observable_names
    assert risk[-1] < risk[0] / 100


# -- bad input -------------------------------------------------------------------------

DECONV = ["--set", "problem.kind=deconvolution", "--set", "problem.d=1", "--set",
          "init.scheme=grid"]


@pytest.mark.parametrize("sets,key", [
    (["problem.d=2"], "problem.d"),
    (["problem.cutoff=0"], "problem.cutoff"),
    (["problem.spikes=[[1.2, 1.0]]"], "problem.spikes"),
    (["problem.spikes=[[0.1, 1.0], [0.15, -1.0]]"], "problem.spikes"),
    (["problem.spikes=[[0.1, 0.0]]"], "problem.spikes"),
    (["problem.noise=-1"], "problem.noise"),
    (["problem.reg=-0.5"], "problem.reg"),
    (["problem.m0=50"], "problem.m0"),
    (["init.scheme=gaussian"], "init.scheme"),
    (["network.alpha=10"], "network.alpha"),
    (["network.bias=true"], "network.bias"),
    (["integrator.method=heun"], "integrator.method"),
    (["integrator.weight_decay=0.1"], "integrator.weight_decay"),
    (["oracle.kind=sampled"], "oracle.kind"),
    (["integrator.geometry=wfr", "integrator.lr_c=2"], "integrator.lr_c"),
])
def test_bad_deconvolution_input_exits_2(sets, key, tmp_path, capsys):
    _refused_naming(DECONV, sets, key, tmp_path, capsys)


def _refused_naming(base, sets, key, tmp_path, capsys):
    """``particles run`` with these --set values: exit 2, one line naming ``key``, no
    file."""
    out = tmp_path / "x.h5"
    args = ["run", "-o", str(out), "--no-animate"] + base
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert key in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("sets,key", [
    (["integrator.geometry=wfr", "integrator.method=heun"], "integrator.method"),
    (["integrator.geometry=wfr", "integrator.method=rk45"], "integrator.method"),
    (["integrator.geometry=wfr", "integrator.temperature=0.1"], "integrator.temperature"),
    (["integrator.geometry=wfr", "integrator.weight_decay=0.1"], "integrator.weight_decay"),
    (["integrator.geometry=wfr", "network.model=tangent"], "network.model"),
    (["integrator.fr_rate=2"], "integrator.fr_rate"),
    (["integrator.geometry=fisher"], "integrator.geometry"),
    (["problem.reg=0.1"], "problem.reg"),
    (["problem.cutoff=5"], "problem.cutoff"),
    (["init.scheme=grid"], "init.scheme"),
])
def test_bad_geometry_input_exits_2(sets, key, tmp_path, capsys):
    _refused_naming([], sets, key, tmp_path, capsys)


def test_library_misuse_names_the_argument():
    with pytest.raises(ValueError, match="cutoff"):
        pt.deconvolution([0.1], [1.0], cutoff=0)
    with pytest.raises(ValueError, match="spikes"):
        pt.deconvolution([0.1, 0.2], [1.0], cutoff=3)
    with pytest.raises(ValueError, match="noise"):
        pt.deconvolution([0.1], [1.0], cutoff=3, noise=float("nan"))
    with pytest.raises(ValueError, match="seed"):
        pt.deconvolution([0.1], [1.0], cutoff=3, seed=-1)
    with pytest.raises(TypeError, match="Deconvolution"):
        pt.deconvolution_oracle("not a problem", 3)
    prob = _problem()
    with pytest.raises(ValueError, match="fr_rate"):
        ConicStep("euler", pt.deconvolution_oracle(prob, 3), 0.1, fr_rate=0.0)
    with pytest.raises(ValueError, match="method"):
        ConicStep("heun", pt.deconvolution_oracle(prob, 3), 0.1)
    with pytest.raises(ValueError, match="tol"):
        dcert.certificate(np.zeros((3, 3)), prob, tol=-1.0)


def test_certify_grow_is_refused_for_a_measure(tmp_path, capsys):
    _, out = _short_run(tmp_path, "g.h5", 1.0)
    assert main(["certify", str(out), "--grow", str(tmp_path / "g2.h5")]) == 2
    assert "--grow" in capsys.readouterr().err
    assert not (tmp_path / "g2.h5").exists()
    with pt.load(out) as run:
        assert "optimality" not in run.f


def test_info_describes_a_deconvolution_run(tmp_path, capsys):
    _, out = _short_run(tmp_path, "i.h5", 1.0)
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "deconvolution on the torus: 4 spikes, cutoff 20" in text
    assert "geometry wfr" in text and "objective" in text
    with pt.load(out) as run:
        conv = json.loads(run.f["parameters"].attrs["conventions"])
    assert conv["geometry"] == "wfr"


# -- views -----------------------------------------------------------------------------

def test_views_of_a_measure(tmp_path, capsys):
    _, out = _short_run(tmp_path, "v.h5", 5.0, frames=12)
    for kind in ("deconvolution", "paths", "frame", "risk"):
        png = tmp_path / f"{kind}.png"
        assert main(["plot", str(out), "--kind", kind, "-o", str(png)]) == 0
        assert png.stat().st_size > 10_000
    capsys.readouterr()
    assert main(["plot", str(out), "--kind", "histograms", "-o", str(tmp_path / "h.png")]) == 2
    assert "deconvolution run" in capsys.readouterr().err
    gif = tmp_path / "v.gif"
    assert main(["animate", str(out), "-o", str(gif), "--frames", "6"]) == 0
    assert gif.stat().st_size > 10_000
    net = tmp_path / "n.h5"
    pt.run(pt.Config(integrator=pt.IntegratorConfig(t_end=0.1),
                     record=pt.RecordConfig(kernel_probes=0)), net)
    assert main(["plot", str(net), "--kind", "deconvolution", "-o",
                 str(tmp_path / "x.png")]) == 2
    assert "needs a deconvolution run" in capsys.readouterr().err


def test_paths_break_where_they_wrap_around_the_torus():
    from particles.viz.measure import unwrap_breaks

    xs = np.array([[0.98, 0.5], [0.01, 0.52], [0.03, 0.55]])
    out = unwrap_breaks(xs)
    assert np.isnan(out[1, 0]) and not np.isnan(out[2, 0])
    np.testing.assert_array_equal(out[:, 1], xs[:, 1])


# -- the hostile user: deconvolution and geometry configurations ------------------------

DECONV_TOML = """
seed = 0
[problem]
kind = "deconvolution"
d = 1
cutoff = 10
spikes = [[0.2, 1.0], [0.6, -1.0]]
[network]
m = 10
[init]
scheme = "grid"
tau = 0.01
[integrator]
dt = 0.01
t_end = 0.1
"""

#: (section, line) replacing or adding one key; every case is bad input
FUZZ = {
    "cutoff float": ("problem", "cutoff = 2.5"),
    "cutoff huge": ("problem", "cutoff = 1000000000"),
    "cutoff text": ("problem", 'cutoff = "x"'),
    "cutoff negative": ("problem", "cutoff = -3"),
    "spikes not a list": ("problem", "spikes = 3"),
    "spike triple": ("problem", "spikes = [[0.2, 1.0, 3.0]]"),
    "spike text": ("problem", 'spikes = [["a", 1.0]]'),
    "spike weight nan": ("problem", "spikes = [[0.2, nan]]"),
    "spike position inf": ("problem", "spikes = [[inf, 1.0]]"),
    "spike position negative": ("problem", "spikes = [[-0.1, 1.0]]"),
    "spike position one": ("problem", "spikes = [[1.0, 1.0]]"),
    "spikes too close": ("problem", "spikes = [[0.2, 1.0], [0.25, 1.0]]"),
    "spikes too close across zero": ("problem", "spikes = [[0.98, 1.0], [0.03, 1.0]]"),
    "noise text": ("problem", 'noise = "x"'),
    "noise inf": ("problem", "noise = inf"),
    "reg negative": ("problem", "reg = -0.1"),
    "reg nan": ("problem", "reg = nan"),
    "m0 zero": ("problem", "m0 = 0"),
    "m0 too many for the cutoff": ("problem", "m0 = 5\nspikes = []"),
    "d zero": ("problem", "d = 0"),
    "kind typo": ("problem", 'kind = "deconvolutoin"'),
    "loss logistic": ("problem", 'loss = "logistic"'),
    "teacher scale": ("problem", "teacher_scale = 2.0"),
    "data path": ("problem", 'data = "x.npz"'),
    "scheme unknown": ("init", 'scheme = "lattice"'),
    "scheme sphere": ("init", 'scheme = "sphere"'),
    "tau negative": ("init", "tau = -1.0"),
    "symmetric odd m": ("network", "m = 9\n[init]\nsymmetric = true"),
    "scaling ntk": ("network", 'scaling = "ntk"'),
    "model tangent": ("network", 'model = "tangent"'),
    "leak": ("network", "leak = 0.2"),
    "activation": ("network", 'activation = "tanh"'),
    "oracle online": ("oracle", 'kind = "online"'),
    "method sgd": ("integrator", 'method = "sgd"'),
    "method rk45": ("integrator", 'method = "rk45"'),
    "temperature": ("integrator", "temperature = 0.1"),
    "geometry int": ("integrator", "geometry = 1"),
    "geometry unknown": ("integrator", 'geometry = "fisher-rao"'),
    "fr_rate zero": ("integrator", 'geometry = "wfr"\nfr_rate = 0.0'),
    "fr_rate negative": ("integrator", 'geometry = "wfr"\nfr_rate = -1.0'),
    "fr_rate huge": ("integrator", 'geometry = "wfr"\nfr_rate = 1e300'),
    "fr_rate without wfr": ("integrator", "fr_rate = 2.0"),
    "lr_a negative": ("integrator", "lr_a = -1.0"),
}


def _fuzz_toml(section, line):
    text = DECONV_TOML
    key = line.split("=")[0].strip()
    lines = text.splitlines()
    start = lines.index(f"[{section}]") if f"[{section}]" in lines else None
    if start is None:
        return text + f"[{section}]\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
               len(lines))
    body = [ln for ln in lines[start + 1:end] if ln.split("=")[0].strip() != key]
    return "\n".join(lines[:start + 1] + body + [line] + lines[end:]) + "\n"


@pytest.mark.parametrize("case", sorted(FUZZ))
def test_bad_deconvolution_config_fuzz(case, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(_fuzz_toml(*FUZZ[case]))
    out = tmp_path / "x.h5"
    assert main(["run", str(cfg), "-o", str(out), "--no-animate"]) == 2, case
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert sorted(os.listdir(tmp_path)) == ["c.toml"]


def test_the_fuzz_base_config_runs(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(DECONV_TOML)
    assert main(["run", str(cfg), "-o", str(tmp_path / "ok.h5"), "--no-animate", "-q"]) == 0


# -- the WFR geometry on other oracles and dtypes ---------------------------------------

def test_wfr_sgd_resumes_bit_for_bit(tmp_path):
    """The online oracle (a fresh batch per step) in the WFR geometry: its stream is
    checkpointed, so a resumed run retraces the uninterrupted one."""
    def cfg(t_end):
        return pt.Config(problem=pt.ProblemConfig(d=3, m0=2),
                         network=pt.NetworkConfig(m=8),
                         oracle=pt.OracleConfig(kind="online", batch=32, n_monitor=100),
                         integrator=pt.IntegratorConfig(method="sgd", dt=0.02, t_end=t_end,
                                                        geometry="wfr", fr_rate=2.0),
                         record=pt.RecordConfig(kernel_probes=0), seed=5)
    full = pt.simulate(cfg(0.6))
    pt.run(cfg(0.3), tmp_path / "s.h5")
    res = pt.resume(tmp_path / "s.h5", t_end=0.6)
    np.testing.assert_array_equal(res.theta, full.theta)
    np.testing.assert_array_equal(np.sign(full.theta[:, 0]), np.sign(full.theta0[:, 0]))


def test_wfr_on_a_data_set_and_in_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = np.tanh(X @ np.array([1.0, -0.5, 0.2]))
    cfg = pt.Config(problem=pt.ProblemConfig(kind="dataset", d=3),
                    network=pt.NetworkConfig(m=12, activation="tanh"),
                    oracle=pt.OracleConfig(kind="dataset"),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=20.0, geometry="wfr"),
                    record=pt.RecordConfig(kernel_probes=0), dtype="float32")
    res = pt.simulate(cfg, problem=pt.dataset(X, y))
    risk = res.observables["risk"]
    assert res.theta.dtype == np.float32 and risk[-1] < 0.5 * risk[0]
