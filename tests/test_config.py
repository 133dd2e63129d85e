"""Bad input is rejected before any work, with the field, the value and the rule."""
import numpy as np
import pytest

import particles as pt
from particles import config as C


@pytest.mark.parametrize("build,match", [
    (lambda: pt.NetworkConfig(m=0), r"network.m=0 is invalid; allowed: an integer >= 1"),
    (lambda: pt.NetworkConfig(m=2.5), r"network.m must be an integer"),
    (lambda: pt.ProblemConfig(d=0), r"problem.d=0 is invalid"),
    (lambda: pt.NetworkConfig(activation="gelu"), r"network.activation='gelu' is invalid; allowed: 'relu'"),
    (lambda: pt.ProblemConfig(loss="hinge"), r"problem.loss='hinge' is invalid; allowed: 'squared', 'logistic'"),
    (lambda: pt.IntegratorConfig(dt=-0.1), r"integrator.dt=-0.1 is invalid; allowed: a number > 0"),
    (lambda: pt.IntegratorConfig(dt=0), r"integrator.dt=0.0 is invalid"),
    (lambda: pt.InitConfig(tau=-1), r"init.tau=-1.0 is invalid; allowed: a number >= 0"),
    (lambda: pt.NetworkConfig(alpha=float("nan")), r"network.alpha=nan is invalid; allowed: a finite number"),
    (lambda: pt.IntegratorConfig(method="rk4"), r"integrator.method='rk4' is invalid"),
    (lambda: pt.RecordConfig(times=(1.0, 0.5)), r"record.times=\[1.0, 0.5\] is invalid; allowed: strictly increasing"),
    (lambda: pt.Config(network=pt.NetworkConfig(m=5), init=pt.InitConfig(symmetric=True)), r"network.m=5 is invalid; allowed: an even number"),
    (lambda: pt.Config(problem=pt.ProblemConfig(loss="logistic")), r"oracle.kind='exact' is invalid; allowed: 'sampled' or 'online'"),
    (lambda: pt.Config(integrator=pt.IntegratorConfig(method="sgd")), r"integrator.method='sgd' is invalid"),
    (lambda: pt.Config(oracle=pt.OracleConfig(kind="online")), r"integrator.method='euler' is invalid; allowed: 'sgd'"),
    (lambda: pt.Config(seed=-1), r"seed=-1 is invalid"),
    (lambda: pt.Config(dtype="float16"), r"dtype='float16' is invalid; allowed: 'float64', 'float32'"),
])
def test_invalid_config_values(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_unknown_keys_are_named():
    with pytest.raises(C.ConfigError, match=r"unknown key network.width; allowed: m, activation"):
        C.from_dict({"network": {"width": 3}})
    with pytest.raises(C.ConfigError, match=r"unknown key 'netwrok'"):
        C.from_dict({"netwrok": {}})
    with pytest.raises(TypeError, match=r"network.m must be an integer, got '3'"):
        C.from_dict({"network": {"m": "3"}})


def test_round_trip_dict():
    cfg = pt.Config(network=pt.NetworkConfig(m=8, bias=True),
                    record=pt.RecordConfig(schedule="times", times=(0.5, 1.0)), seed=3)
    assert C.from_dict(C.to_dict(cfg)) == cfg


def test_set_value_overrides():
    data = C.set_value({}, "network.m=32")
    data = C.set_value(data, "network.activation=tanh")
    data = C.set_value(data, "seed=4")
    cfg = C.from_dict(data)
    assert cfg.network.m == 32 and cfg.network.activation == "tanh" and cfg.seed == 4


def test_array_arguments(rng):
    with pytest.raises(ValueError, match=r"theta has shape \(3, 4\); allowed: \(m, d \+ 2\) = \(4, 5\)"):
        pt.simulate(pt.Config(network=pt.NetworkConfig(m=4), problem=pt.ProblemConfig(d=3)),
                    theta=np.zeros((3, 4)))
    bad = np.zeros((4, 5))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="theta contains NaN"):
        pt.simulate(pt.Config(network=pt.NetworkConfig(m=4), problem=pt.ProblemConfig(d=3)),
                    theta=bad)
    X = rng.standard_normal((10, 2))
    y = rng.standard_normal(10)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or Inf \(first at index \(3, 1\)\)"):
        pt.dataset(X, y)
    with pytest.raises(ValueError, match=r"y has shape \(9,\); allowed: an array of shape \(10\)"):
        pt.dataset(rng.standard_normal((10, 2)), y[:9])
    with pytest.raises(ValueError, match=r"labels in \{-1, \+1\}"):
        pt.dataset(rng.standard_normal((10, 2)), y, loss="logistic")
    with pytest.raises(ValueError, match=r"m=0 is invalid"):
        pt.initialize(rng, 0, 2)
    with pytest.raises(ValueError, match=r"tau=-0.5 is invalid"):
        pt.initialize(rng, 4, 2, tau=-0.5)
    with pytest.raises(ValueError, match=r"loss='l1' is invalid"):
        pt.teacher_student(2, 3, loss="l1", rng=rng)
    with pytest.raises(ValueError, match=r"activation='swish' is unknown"):
        pt.teacher_student(2, 3, activation="swish", rng=rng)
    with pytest.raises(ValueError, match=r"dt=-1 is invalid"):
        pt.FixedStep("euler", pt.exact_oracle(pt.teacher_student(2, 1, rng=rng), 2), -1)


def test_dataset_problem_runs_with_test_risk(rng):
    X = rng.standard_normal((200, 3))
    y = np.tanh(X[:, 0])
    prob = pt.dataset(X[:150], y[:150], X[150:], y[150:])
    cfg = pt.Config(problem=pt.ProblemConfig(kind="dataset", d=3, data="given"),
                    oracle=pt.OracleConfig(kind="dataset"),
                    integrator=pt.IntegratorConfig(t_end=2.0, dt=0.05))
    res = pt.simulate(cfg, problem=prob)
    assert set(res.observables) >= {"risk", "test_risk", "grad_norm2", "distance"}
    assert res.observables["risk"][-1] < res.observables["risk"][0]


def test_schema_doc_lists_every_key():
    """docs/config.md (generated by docs/make_config_doc.py) documents every key."""
    import dataclasses
    import pathlib

    text = (pathlib.Path(__file__).parents[1] / "docs" / "config.md").read_text()
    for name, section in C._SECTIONS.items():
        assert f"## [{name}]" in text
        for f in dataclasses.fields(section):
            assert f"| `{f.name}` |" in text, f"{name}.{f.name} missing from docs/config.md"


def test_random_sign_teacher_and_teacher_scale():
    signs = []
    for seed in range(20):
        cfg = pt.Config(problem=pt.ProblemConfig(d=3, m0=5, teacher_output="random_sign",
                                                 teacher_scale=2.5), seed=seed)
        t = pt.Simulation(cfg).problem.teacher
        assert set(np.abs(t[:, 0])) == {2.5}
        signs.append(np.sign(t[:, 0]))
    signs = np.concatenate(signs)
    assert 30 < np.sum(signs > 0) < 70  # i.i.d. fair signs over 100 draws
    base = pt.Simulation(pt.Config(problem=pt.ProblemConfig(d=3, m0=5), seed=1)).problem
    scaled = pt.Simulation(pt.Config(problem=pt.ProblemConfig(d=3, m0=5, teacher_scale=3.0),
                                     seed=1)).problem
    np.testing.assert_array_equal(scaled.teacher[:, 0], 3.0 * base.teacher[:, 0])
    np.testing.assert_array_equal(scaled.teacher[:, 1:], base.teacher[:, 1:])
    with pytest.raises(pt.ConfigError, match="problem.teacher_scale=0.0 is invalid"):
        pt.ProblemConfig(teacher_scale=0.0)


#: keys that the rest of the configuration never reads: refused when set (never ignored)
UNUSED = [
    (["oracle.n=500"], "oracle.n", "oracle.kind = 'exact'"),
    (["oracle.kind=online", "integrator.method=sgd", "oracle.n=500"], "oracle.n",
     "oracle.kind = 'online'"),
    (["oracle.batch=32"], "oracle.batch", "oracle.kind = 'exact'"),
    (["oracle.kind=sampled", "oracle.batch=32"], "oracle.batch", "oracle.kind = 'sampled'"),
    (["oracle.n_monitor=500"], "oracle.n_monitor", "oracle.kind = 'exact'"),
    (["integrator.rtol=1e-6"], "integrator.rtol", "integrator.method = 'euler'"),
    (["integrator.method=heun", "integrator.atol=1e-6"], "integrator.atol",
     "integrator.method = 'heun'"),
    (["record.every=50"], "record.every", "record.schedule = 'log'"),
    (["record.schedule=every", "record.times=[1.0, 2.0]"], "record.times",
     "record.schedule = 'every'"),
]


@pytest.mark.parametrize("sets,key,why", UNUSED)
def test_keys_that_are_not_read_are_refused(sets, key, why, tmp_path, capsys):
    from particles.cli import main

    argv = ["run", "-o", str(tmp_path / "r.h5"), "--no-animate", "-q"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{key}=" in err[0] and why in err[0], err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("sets,key,why", UNUSED[:1] + UNUSED[5:])
def test_the_same_keys_are_read_where_they_apply(sets, key, why):
    """The keys refused above are accepted with the choice that reads them."""
    section, name = key.split(".")
    use = {"oracle.n": {"oracle": {"kind": "sampled"}},
           "integrator.rtol": {"integrator": {"method": "rk45"}},
           "integrator.atol": {"integrator": {"method": "rk45"}},
           "record.every": {"record": {"schedule": "every"}},
           "record.times": {"record": {"schedule": "times"}}}[key]
    value = {"oracle.n": 500, "integrator.rtol": 1e-6, "integrator.atol": 1e-6,
             "record.every": 50, "record.times": (1.0, 2.0)}[key]
    data = {s: dict(v) for s, v in use.items()}
    data.setdefault(section, {})[name] = value
    assert getattr(getattr(C.from_dict(data), section), name) == value


def test_run_files_of_earlier_versions_with_unread_keys_still_load(tmp_path):
    """Earlier versions accepted keys their run never read; such files open (the keys
    reset to their defaults, which changes nothing about the run) and resume."""
    import json

    import h5py

    cfg = pt.Config(network=pt.NetworkConfig(m=4),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=0.5),
                    record=pt.RecordConfig(kernel_probes=0))
    path = tmp_path / "old.h5"
    pt.run(cfg, path, interrupted=lambda: True)
    with h5py.File(path, "r+") as f:
        stored = json.loads(f["parameters"].attrs["config"])
        stored["oracle"]["n"] = 123
        stored["integrator"]["rtol"] = 1e-3
        stored["record"]["every"] = 7
        f["parameters"].attrs["config"] = json.dumps(stored)
    with pytest.raises(C.ConfigError, match="oracle.n=123"):
        C.from_dict(stored)
    with pt.load(path) as run:
        assert run.config == cfg
    res = pt.resume(path)
    assert res.status == "complete"
    np.testing.assert_array_equal(res.theta, pt.simulate(cfg).theta)


def test_the_default_job_is_config_and_an_empty_file(tmp_path):
    """One set of defaults: the embedded job of `particles run`, an empty TOML file and
    pt.Config() are the same configuration, key for key."""
    from particles.config.io import DEFAULT_CONFIG, read_toml, to_dict

    empty = tmp_path / "empty.toml"
    empty.write_text("")
    default = pt.load_toml(DEFAULT_CONFIG)
    assert to_dict(default) == to_dict(pt.Config())
    assert default == pt.Config() == pt.load_toml(str(empty))
    assert default.output.animate  # the command animates its job
    # every key the file names is a key of the schema (it documents the job)
    assert set(read_toml(DEFAULT_CONFIG)) <= set(to_dict(pt.Config()))
