"""Polish, Hessian spectra and the optimality certificate."""
import json

import numpy as np
import pytest

import particles as pt
from particles.analysis import optimality as O
from particles.cli import main


def _teacher(d, m0):
    t = np.zeros((m0, d + 2))
    t[:, 0] = 1.0
    t[:, 1:m0 + 1] = np.eye(m0)[:, :m0] if m0 <= d else 0.0
    return t


def _relu_moment(a, b):
    return float(np.dot(a, a)) / 2  # E[relu(a.x)^2], x ~ N(0, I)


@pytest.fixture(scope="module")
def recovered():
    """A 2-neuron student started near a 2-neuron teacher (exact oracle)."""
    rng = np.random.default_rng(3)
    teacher = _teacher(3, 2)
    prob = pt.teacher_student(3, 2, teacher=teacher)
    theta = teacher.copy()
    theta[:, 0] *= 2  # f = (1/m) sum c sigma: c = m c*
    theta[:, :4] += 0.05 * rng.standard_normal((2, 4))
    return prob, pt.exact_oracle(prob, 2), theta


def test_gradient_and_hessian_products_match_finite_differences(recovered, rng):
    prob, oracle, theta = recovered
    obj = O.Objective(oracle, theta)
    x = obj.x0
    p = rng.standard_normal(x.size)
    h = 1e-6
    fd = (obj.fun_grad(x + h * p)[0] - obj.fun_grad(x - h * p)[0]) / (2 * h)
    np.testing.assert_allclose(np.dot(obj.grad(x), p), fd, rtol=1e-7)
    hv = obj.hessp(x, p)
    fd2 = (obj.grad(x + 1e-5 * p) - obj.grad(x - 1e-5 * p)) / 2e-5
    np.testing.assert_allclose(hv, fd2, rtol=1e-5, atol=1e-9)


def test_polish_certify_and_classify_a_recovered_teacher(recovered):
    prob, oracle, theta = recovered
    res = O.polish(theta, oracle, method="newton")
    assert res.grad_norm < 1e-12 < res.grad_norm0
    cert = O.certificate(res.theta, lambda n: pt.exact_oracle(prob, n),
                         second_moment=_relu_moment, starts=256)
    assert cert.value < 1e-8
    dense = O.hessian_spectrum(res.theta, oracle, activation="relu", bias=False)
    assert dense.classification == "minimum" and dense.zero_modes == 2
    lanczos = O.hessian_spectrum(res.theta, oracle, activation="relu", bias=False,
                                 dense=False, k=2)
    np.testing.assert_allclose([lanczos.min_eig, lanczos.max_eig],
                               [dense.min_eig, dense.max_eig], rtol=1e-4)
    lbfgs = O.polish(theta, oracle, method="lbfgs")
    assert lbfgs.grad_norm < 1e-8


def test_certificate_of_an_underparameterised_student_points_to_the_missing_neuron():
    teacher = _teacher(4, 3)
    prob = pt.teacher_student(4, 3, teacher=teacher)
    theta = teacher[:2].copy()
    theta[:, 0] *= 2
    res = O.polish(theta, pt.exact_oracle(prob, 2))
    cert = O.certificate(res.theta, lambda n: pt.exact_oracle(prob, n),
                         second_moment=_relu_moment, starts=256)
    assert cert.value > 1e-2 and cert.decrease_bound > 1e-3
    cos = teacher[:, 1:5] @ cert.direction[:4]
    assert np.argmax(cos) == 2 and cos[2] > 0.75, cos
    # one more neuron there, with the best output weight, lowers the risk by the bound
    grown = np.vstack([res.theta, np.zeros((1, 6))])
    grown[:2, 0] *= 3 / 2
    m2 = _relu_moment(cert.direction[:4], 0.0)
    grown[2, 0] = -3 * cert.sign * cert.value / m2  # f gains t sigma with t = -h / E[s^2]
    grown[2, 1:5] = cert.direction[:4]
    before = pt.exact_oracle(prob, 2).risk(res.theta)
    after = pt.exact_oracle(prob, 3).risk(grown)
    np.testing.assert_allclose(before - after, cert.decrease_bound, rtol=1e-8)


def test_zero_output_start_is_a_saddle():
    prob = pt.teacher_student(3, 2, activation="erf", rng=np.random.default_rng(1))
    spec = O.hessian_spectrum(np.zeros((4, 5)), pt.exact_oracle(prob, 4, activation="erf"),
                              activation="erf", bias=False)
    assert spec.classification == "saddle" and spec.min_eig < -1e-3


def test_polish_respects_frozen_layers(recovered):
    prob, oracle, theta = recovered
    res = O.polish(theta, oracle, lr=(1.0, 0.0, 0.0))
    np.testing.assert_array_equal(res.theta[:, 1:], theta[:, 1:])
    assert res.grad_norm < 1e-10  # the gradient over c only


def test_polish_and_certify_commands(tmp_path, capsys):
    cfg = pt.Config(problem=pt.ProblemConfig(d=3, m0=2), network=pt.NetworkConfig(m=6),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=5.0), seed=1)
    out = tmp_path / "r.h5"
    pt.run(cfg, out)
    with pt.load(out) as run:
        frames = [run.frame(k) for k in range(len(run))]
    assert main(["polish", str(out), "--json"]) == 0
    pol = json.loads(capsys.readouterr().out)
    assert {"grad_norm", "risk", "method", "iterations"} <= set(pol)
    assert pol["grad_norm"] < 1e-10
    assert main(["certify", str(out), "--json", "--starts", "64"]) == 0
    cert = json.loads(capsys.readouterr().out)
    assert {"value", "direction", "decrease_bound", "classification", "min_eig"} <= set(cert)
    assert cert["state"] == "polished"
    assert main(["info", str(out), "--check"]) == 0
    text = capsys.readouterr().out
    assert "polish      newton" in text and "certificate" in text
    with pt.load(out) as run:  # the trajectory is untouched
        for k, f in enumerate(frames):
            np.testing.assert_array_equal(run.frame(k), f)


def test_certify_refuses_a_tangent_model_run(tmp_path, capsys):
    """The certificate is the network's (and so are the Hessian's zero modes): a run of
    the linearised model is refused with exit 2 and its file is left as it was; polish
    works on the model that ran."""
    import hashlib

    cfg = pt.Config(problem=pt.ProblemConfig(d=3, m0=2),
                    network=pt.NetworkConfig(m=6, model="tangent", alpha=4.0),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=1.0),
                    record=pt.RecordConfig(kernel_probes=0), seed=1)
    out = tmp_path / "t.h5"
    pt.run(cfg, out)
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["certify", str(out)]) == 2
    err = capsys.readouterr().err
    assert "tangent model" in err and len(err.strip().splitlines()) == 1
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    assert main(["polish", str(out), "--json"]) == 0


def test_certify_grow_continues_with_one_more_neuron(tmp_path, capsys):
    """m < m0: --grow adds the neuron the certificate points to, and the run with m + 1
    neurons ends with a lower risk than the polished m-neuron state."""
    cfg = pt.Config(problem=pt.ProblemConfig(d=3, m0=3, teacher_output="ones"),
                    network=pt.NetworkConfig(m=2), init=pt.InitConfig(tau=0.5),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=20.0), seed=2)
    out = tmp_path / "small.h5"
    pt.run(cfg, out)
    assert main(["polish", str(out), "--json"]) == 0
    polished = json.loads(capsys.readouterr().out)
    new = tmp_path / "grown.h5"
    assert main(["certify", str(out), "--json", "--starts", "128", "--grow", str(new)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["value"] > 1e-3 and rep["grown"]["status"] == "complete"
    assert rep["grown"]["risk"] < polished["risk"] - 0.5 * rep["decrease_bound"]
    with pt.load(new) as run:
        assert run.m == 3 and run.config.network.m == 3
