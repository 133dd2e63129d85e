"""A run file holds the problem and initial particles that ran, and resume uses them.

Every way a problem or theta can enter a run (config, a teacher array or a data set
passed from Python, an initial array, a data-set file) is killed with SIGKILL partway
and resumed; the final state must equal the uninterrupted run's bit for bit, and the
file must still hold what ran.
"""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import particles as pt
from particles.config import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = ["config", "api-teacher", "api-theta", "dataset-file", "dataset-api", "online-teacher"]


def build_case(name, tmp):
    """(config, kwargs of pt.run) for case ``name``; data files go in ``tmp``."""
    rng = np.random.default_rng(sum(map(ord, name)))
    integ = pt.IntegratorConfig(dt=0.01, t_end=2.0)
    record = pt.RecordConfig(frames=20)
    out = pt.OutputConfig(flush_seconds=0.0)
    problem = pt.ProblemConfig(d=3, m0=2)
    oracle = pt.OracleConfig()
    kw = {}
    if name == "api-teacher":
        teacher = rng.standard_normal((3, 5))
        kw["problem"] = pt.teacher_student(3, 3, teacher=teacher)
    elif name == "api-theta":
        kw["theta"] = 0.5 * rng.standard_normal((6, 5))
        kw["theta"][:, 4] = 0.0
    elif name == "online-teacher":
        kw["problem"] = pt.teacher_student(3, 2, teacher=rng.standard_normal((2, 5)))
        integ = integ.replace(method="sgd")
        oracle = pt.OracleConfig(kind="online", batch=16, n_monitor=300)
    elif name.startswith("dataset"):
        X = rng.standard_normal((80, 3))
        y = np.tanh(X @ np.array([1.0, -0.5, 0.25]))
        oracle = pt.OracleConfig(kind="dataset")
        if name == "dataset-file":
            path = os.path.join(tmp, "data.npz")
            np.savez(path, X=X[:60], y=y[:60], X_test=X[60:], y_test=y[60:])
            problem = pt.ProblemConfig(kind="dataset", d=3, data=path)
        else:
            problem = pt.ProblemConfig(kind="dataset", d=3)
            kw["problem"] = pt.dataset(X[:60], y[:60], X[60:], y[60:])
    cfg = pt.Config(problem=problem, network=pt.NetworkConfig(m=6), oracle=oracle,
                    integrator=integ, record=record, output=out, seed=3)
    return cfg, kw


KILLER = r"""
import os, signal, sys
sys.path.insert(0, {here!r})
import particles as pt
from test_provenance import build_case

cfg, kw = build_case({name!r}, {tmp!r})

def progress(step, n_steps, t, risk):
    if step >= {kill_step}:
        os.kill(os.getpid(), signal.SIGKILL)

pt.run(cfg, {out!r}, progress=progress, **kw)
"""


@pytest.mark.parametrize("name", CASES)
def test_kill_and_resume_rebuild_what_ran(name, tmp_path):
    cfg, kw = build_case(name, str(tmp_path))
    reference = pt.simulate(cfg, **kw)  # frames kept in memory: every record compared
    out = str(tmp_path / "run.h5")
    script = KILLER.format(here=HERE, name=name, tmp=str(tmp_path), kill_step=60, out=out)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with pt.load(out) as run:
        assert run.status == "running"
        assert 0 < run.checkpoint()["step"] < reference.step
        stored = run.problem()
        teacher_before = run.teacher
        np.testing.assert_array_equal(run.theta0, reference.theta0)
        assert run.problem_origin == ("python" if "problem" in kw else "config")
    res = pt.resume(out)
    np.testing.assert_array_equal(res.theta, reference.theta)
    np.testing.assert_array_equal(res.observables["risk"][-1],
                                  reference.observables["risk"][-1])
    with pt.load(out) as run:
        assert run.complete
        assert run.config == reference.config
        np.testing.assert_array_equal(run.frame(-1), reference.theta)
        # every record, not only the final state
        np.testing.assert_array_equal(run.steps, reference.frame_steps)
        for k in range(len(run)):
            np.testing.assert_array_equal(run.frame(k), reference.frames[k])
        for obs, values in reference.observables.items():
            np.testing.assert_array_equal(run.observable(obs)[2], values)
        after = run.problem()
        if stored.teacher is not None:
            np.testing.assert_array_equal(run.teacher, teacher_before)
            np.testing.assert_array_equal(after.teacher, reference.problem.teacher)
        else:
            for key in ("X", "y", "X_test", "y_test"):
                np.testing.assert_array_equal(getattr(after, key),
                                              getattr(reference.problem, key))


def test_resume_to_a_later_time_keeps_the_python_teacher(tmp_path, rng):
    """The reported case: run to t = 1 with a teacher array, resume to t = 2."""
    teacher = rng.standard_normal((2, 5))
    problem = pt.teacher_student(3, 2, teacher=teacher)
    base = pt.Config(problem=pt.ProblemConfig(d=3, m0=2), network=pt.NetworkConfig(m=6),
                     integrator=pt.IntegratorConfig(dt=0.01, t_end=1.0), seed=5)
    pt.run(base, tmp_path / "a.h5", problem=problem)
    res = pt.resume(tmp_path / "a.h5", t_end=2.0)
    direct = pt.simulate(base.replace(integrator=base.integrator.replace(t_end=2.0)),
                         problem=problem)
    np.testing.assert_array_equal(res.theta, direct.theta)
    assert res.observables["risk"][-1] == direct.observables["risk"][-1]
    with pt.load(tmp_path / "a.h5") as run:
        np.testing.assert_array_equal(run.teacher, problem.teacher)
        np.testing.assert_array_equal(run.teacher[:, :4], teacher[:, :4])


def test_stored_config_says_what_ran(tmp_path, rng):
    theta = 0.3 * rng.standard_normal((6, 5))
    theta[:, 4] = 0.0
    problem = pt.teacher_student(3, 4, teacher=rng.standard_normal((4, 5)), bias=True)
    cfg = pt.Config(problem=pt.ProblemConfig(d=3, m0=2), network=pt.NetworkConfig(m=6),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=0.5))
    res = pt.run(cfg, tmp_path / "r.h5", theta=theta, problem=problem)
    assert res.config.problem.m0 == 4 and res.config.problem.teacher_bias
    assert res.config.init.scheme == "array"
    with pt.load(tmp_path / "r.h5") as run:
        assert run.config == res.config


@pytest.mark.parametrize("change,message", [
    (dict(inputs="sphere"), r"problem.inputs='sphere' does not match .* 'gaussian'"),
    (dict(loss="logistic"), r"problem.loss='logistic' does not match"),
    (dict(d=4), r"problem.d=4 does not match .* 3"),
    (dict(teacher_activation="erf"), r"problem.teacher_activation='erf' does not match"),
    (dict(kind="dataset"), r"problem.kind='dataset' does not match"),
])
def test_config_and_python_problem_are_checked_before_work(change, message, tmp_path, rng):
    problem = pt.teacher_student(3, 2, rng=rng)
    oracle = pt.OracleConfig(kind="dataset" if change.get("kind") else "sampled")
    cfg = pt.Config(problem=pt.ProblemConfig(d=3).replace(**change),
                    oracle=oracle, integrator=pt.IntegratorConfig(dt=0.05, t_end=0.5))
    with pytest.raises(ConfigError, match=message):
        pt.run(cfg, tmp_path / "r.h5", problem=problem)
    assert not (tmp_path / "r.h5").exists()


def test_dataset_problem_needs_no_path_and_names_the_oracle(rng):
    X = rng.standard_normal((40, 2))
    prob = pt.dataset(X, X[:, 0])
    cfg = pt.Config(problem=pt.ProblemConfig(kind="dataset"), oracle=pt.OracleConfig(kind="dataset"),
                    integrator=pt.IntegratorConfig(dt=0.05, t_end=0.2))
    assert pt.simulate(cfg, problem=prob).status == "complete"
    with pytest.raises(ConfigError, match=r"oracle.kind='exact' is invalid; allowed: 'dataset'"):
        pt.simulate(cfg.replace(problem=pt.ProblemConfig(kind="dataset"),
                                oracle=pt.OracleConfig(kind="exact")), problem=prob)
    with pytest.raises(ConfigError, match=r"problem.data=None is invalid"):
        pt.simulate(cfg)


def test_problem_and_init_seeds():
    base = pt.Config(problem=pt.ProblemConfig(d=3, seed=7), network=pt.NetworkConfig(m=4),
                     init=pt.InitConfig(seed=11, tau=1.0))
    sims = [pt.Simulation(base.replace(seed=s)) for s in (0, 1)]
    np.testing.assert_array_equal(sims[0].problem.teacher, sims[1].problem.teacher)
    np.testing.assert_array_equal(sims[0].theta0, sims[1].theta0)
    scaled = pt.Simulation(base.replace(init=base.init.replace(tau=0.5)))
    np.testing.assert_array_equal(scaled.theta0, 0.5 * sims[0].theta0)
    free = [pt.Simulation(pt.Config(problem=pt.ProblemConfig(d=3), network=pt.NetworkConfig(m=4),
                                    seed=s)) for s in (0, 1)]
    assert not np.array_equal(free[0].problem.teacher, free[1].problem.teacher)
    assert not np.array_equal(free[0].theta0, free[1].theta0)
