"""The figure machinery (one figure end to end; the others' quick modes run as a CI
smoke step, .ci/run) and the convex baseline."""
import json
import math
import sys

import numpy as np
import pytest
from PIL import Image

import particles as pt
from particles.experiments import figures
from particles.cli import main
from particles.analysis.convex import random_features

import naive


def test_every_figure_declares_its_parts():
    for name in figures.FIGURES:
        mod = figures.get(name)
        for attr in ("TITLE", "X_LABEL", "Y_LABEL", "sweeps", "curves", "checks", "draw",
                     "protocol"):
            assert hasattr(mod, attr), (name, attr)
        for quick in (True, False):
            sweeps = mod.sweeps(quick)
            for sweep in sweeps.values():
                sweep.configs()  # every run of both sizes is a valid config
        assert json.dumps(mod.protocol(False))
    with pytest.raises(ValueError, match="figure 'nope' is unknown"):
        figures.get("nope")


def test_lazy_trajectories_end_to_end(tmp_path, capsys):
    out = tmp_path / "fig"
    assert main(["figure", "lazy-trajectories", "--quick", "-o", str(out), "--workers",
                 "1"]) == 0
    text = capsys.readouterr().out
    assert text.count("ok    ") == 5 and "FAILED" not in text
    data = json.loads((out / "lazy-trajectories.json").read_text())
    assert data["figure"] == "lazy-trajectories"
    assert {"x_label", "y_label", "curves", "protocol", "checks", "seconds"} <= set(data)
    for c in data["curves"]:
        assert len(c["x"]) == len(c["mean"]) == len(c["std"]) and c["label"]
    lo, hi = data["curves"]
    assert lo["tau"] == 0.1 and hi["tau"] == 2.0
    assert 5 * hi["median_turn_degrees"] < lo["median_turn_degrees"] and hi["median_turn_degrees"] < 5
    # the published panel's teacher: both output signs (two colours), one teacher per run
    assert lo["teacher"] == hi["teacher"]
    assert sorted({np.sign(c) for c, *_ in lo["teacher"]}) == [-1, 1]
    # the criterion scales like tau^-2 (2-homogeneous relu, f(theta0) = 0; the same probes)
    np.testing.assert_allclose(lo["kappa"] / hi["kappa"], (2.0 / 0.1) ** 2, rtol=1e-9)
    assert Image.open(out / "lazy-trajectories.png").size[0] > 1000
    gif = Image.open(out / "lazy-trajectories.gif")
    assert gif.n_frames > 10 and gif.size[0] > 1.8 * gif.size[1]  # two panels side by side
    # a second call reuses the runs (skipped) and gives the same numbers
    again = figures.make("lazy-trajectories", str(out), quick=True, workers=1,
                         progress=False, log=lambda *a: None)
    assert again["curves"] == data["curves"]
    # draw() gives the saved figure again, from the run files, without running anything
    fig = figures.draw("lazy-trajectories", data, str(out))
    try:
        assert len(fig.axes) == 3 and fig.get_suptitle()
        w, h = fig.get_size_inches() * 90
        assert Image.open(out / "lazy-trajectories.png").size == (round(w), round(h))
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    with pytest.raises(FileNotFoundError, match="runs-tau does not exist"):
        figures.draw("lazy-trajectories", data, str(tmp_path / "elsewhere"))
    assert main(["figure", "nope"]) == 2


def test_tau_test_loss_zero_predictor_is_averaged_over_trials(tmp_path):
    # each trial draws its own teacher and test set: the zero predictor's loss (the test
    # loss at t = 0, f = 0) differs between trials, and the figure reports their mean
    from particles.experiments.figures import tau_test_loss as ttl
    from particles.experiments.sweep import Sweep, run_sweep

    base = pt.from_dict({
        "problem": {"d": 5, "inputs": "sphere", "m0": 3, "teacher_output": "random_sign"},
        "network": {"m": 4, "scaling": "standard"},
        "init": {"symmetric": True, "c_law": "abs_gaussian"},
        "oracle": {"kind": "sampled", "n": 20, "n_monitor": 20},
        "integrator": {"dt": 0.01, "t_end": 0.05},
        "record": {"particles": "ends", "kernel_probes": 0}})
    sweep = Sweep(base=base, grid={"init.tau": [0.1, 1.0]}, trials=3, name="tau", seed=3)
    table = run_sweep(sweep, str(tmp_path / "s"), workers=1, progress=False)
    zeros = ttl.zero_predictor_losses(table)
    assert len(zeros) == 3 and len(set(zeros)) == 3
    for row in table.rows:  # every point of a trial starts from the same f = 0 loss
        with table.run(table.rows.index(row)) as run:
            first = run.observable("test_risk")[2][0]
        np.testing.assert_allclose(first, zeros[int(row["trial"])], rtol=1e-12)
    c = ttl.curves({"tau": table}, True)[0]
    np.testing.assert_allclose(c["zero_predictor_loss"], np.mean(zeros), rtol=1e-12)
    np.testing.assert_allclose(c["zero_predictor_std"], np.std(zeros, ddof=1), rtol=1e-12)


def _twin_moments(activation, A, B):
    """E[sigma(a_i . x + b_i) sigma(a'_j . x + b'_j)], x ~ N(0, I), from the NumPy twins
    (SciPy closed forms for relu and erf, brute-force quadrature otherwise)."""
    d = A.shape[1] - 1
    out = np.empty((A.shape[0], B.shape[0]))
    for i, u in enumerate(A):
        for j, w in enumerate(B):
            s1, s2 = np.linalg.norm(u[:d]), np.linalg.norm(w[:d])
            rho = float(np.clip(u[:d] @ w[:d] / (s1 * s2), -1.0, 1.0))
            if activation == "relu" and u[d] == 0 and w[d] == 0:  # arc-cosine, order 1
                t = math.acos(rho)
                out[i, j] = s1 * s2 * (math.sin(t) + (math.pi - t) * rho) / (2 * math.pi)
            elif activation == "erf":
                out[i, j] = naive.closed_pair(activation, u[d], w[d], s1, s2, rho)[0]
            else:
                out[i, j] = naive.pair(activation, u[d], w[d], s1, s2, rho, nodes=400)[0]
    return out


@pytest.mark.parametrize("activation,bias", [("relu", False), ("erf", True),
                                             ("sigmoid", False)])
def test_random_features_solves_the_least_squares_problem(activation, bias):
    rng = np.random.default_rng(0)
    prob = pt.teacher_student(4, 3, activation=activation, bias=bias, rng=rng)
    theta = pt.initialize(np.random.default_rng(1), 12, 4, bias=bias)
    res = random_features(prob, theta, activation=activation, bias=bias, alpha=2.0)
    np.testing.assert_array_equal(res.theta[:, 1:], theta[:, 1:])  # hidden layer frozen
    orc = pt.exact_oracle(prob, 12, activation=activation, bias=bias, alpha=2.0)
    r, v = orc.velocity(res.theta.copy())
    # the Gram-matrix closed form, from the twins' pair moments (not the library's):
    # min_c R = E y^2 / 2 - h^T G^+ h / 2, G_ij = E s_i s_j, h_i = E s_i y
    hidden, teacher = theta[:, 1:], np.asarray(prob.teacher)
    G = _twin_moments(activation, hidden, hidden)
    h = _twin_moments(activation, hidden, teacher[:, 1:]) @ teacher[:, 0]
    ey2 = teacher[:, 0] @ _twin_moments(activation, teacher[:, 1:], teacher[:, 1:]) @ teacher[:, 0]
    best = 0.5 * ey2 - 0.5 * h @ np.linalg.pinv(G, rcond=1e-12) @ h
    # the twins' moments are good to ~1e-12 (quadrature: 1e-11); G^+ amplifies that by cond(G)
    np.testing.assert_allclose(res.risk, best, rtol=0, atol=1e-11 * np.linalg.cond(G) * ey2)
    assert np.abs(v[:, 0]).max() < 1e-10 * max(1.0, np.abs(res.theta[:, 0]).max())
    # no other output weights do better: random perturbations raise the exact risk
    for _ in range(5):
        other = res.theta.copy()
        other[:, 0] += 1e-3 * rng.standard_normal(12)
        assert orc.risk(other) > res.risk
    # and a least-squares fit on a large Monte Carlo sample lands within its error
    X = rng.standard_normal((100_000, 4))
    Z = X @ theta[:, 1:5].T + (theta[:, 5] if bias else 0.0)
    F = 2.0 / 12 * naive.sigma(activation, Z)
    c, *_ = np.linalg.lstsq(F, prob.labels(X), rcond=None)
    mc = res.theta.copy()
    mc[:, 0] = c
    assert res.risk <= orc.risk(mc) <= res.risk * 1.05 + 1e-12


def test_random_features_refuses_bad_input():
    prob = pt.teacher_student(3, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="theta has shape"):
        random_features(prob, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="rcond"):
        random_features(prob, np.ones((4, 5)), rcond=2.0)
    assert "particles.analysis.convex" in sys.modules


def test_m_convergence_runs_the_true_sigmoid(tmp_path):
    # panel (e) of the talk uses the logistic sigmoid: its sweep runs it with the exact
    # (quadrature) population risk, and the post-processing polishes, certifies and
    # solves its convex baseline like the closed-form activations'
    from particles.experiments.figures import m_convergence as mc

    for quick in (True, False):
        sweeps = mc.sweeps(quick)
        assert set(sweeps) == {"relu", "sigmoid", "erf"}
        cfg = sweeps["sigmoid"].config(0, 0)
        assert cfg.network.activation == "sigmoid" and cfg.oracle.kind == "exact"
        assert max(mc.settings(quick)["sigmoid"]["ms"]) >= 4 * mc.M0  # the floor check
    data = pt.to_dict(mc.sweeps(True)["sigmoid"].config(0, 0))
    data["integrator"]["t_end"] = 5.0
    data["output"]["path"] = str(tmp_path / "sig.h5")
    cfg = pt.from_dict(data)
    pt.run(cfg)
    with pt.load(cfg.output.path) as run:
        risk0 = run.observable("risk")[2][0]
    out = mc.post(cfg.output.path, cfg)
    assert 0 <= out["polished.risk"] < risk0
    # the baseline solves for the output weights with the run's initial hidden layer, of
    # which the initial output weights are one choice
    assert np.isfinite(out["certificate"]) and 0 < out["convex.risk"] <= risk0 * (1 + 1e-12)
