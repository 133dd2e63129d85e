"""HDF5 store: round trip, H5MD conformance, killed runs, concurrent readers, resume."""
import json
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

import particles as pt
from particles import config as C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    "euler-exact": dict(method="euler", oracle="exact"),
    "heun-sampled": dict(method="heun", oracle="sampled"),
    "sgd-online": dict(method="sgd", oracle="online"),
    "rk45-exact": dict(method="rk45", oracle="exact"),
    "lsoda-exact": dict(method="lsoda", oracle="exact"),
    "euler-dataset": dict(method="euler", oracle="dataset"),
    "dop853-sampled": dict(method="dop853", oracle="sampled"),
    "bdf-exact": dict(method="bdf", oracle="exact"),
    "heun-exact": dict(method="heun", oracle="exact"),
}


def _oracle(kind, n=None, batch=None, n_monitor=None):
    """An oracle section with the sizes its kind reads (others are refused when set)."""
    reads = {"sampled": ("n", "n_monitor"), "online": ("batch", "n_monitor")}.get(kind, ())
    sizes = {k: v for k, v in dict(n=n, batch=batch, n_monitor=n_monitor).items()
             if k in reads and v is not None}
    return pt.OracleConfig(kind=kind, **sizes)


def _cfg(method="euler", oracle="exact", t_end=1.0, dt=0.01, m=6, storage="float64", **kw):
    problem = pt.ProblemConfig(d=3, m0=2)
    if oracle == "dataset":
        problem = pt.ProblemConfig(kind="dataset", d=3, data=kw.pop("data"))
    return pt.Config(problem=problem, network=pt.NetworkConfig(m=m, bias=True),
                     oracle=_oracle(oracle, n=200, batch=16, n_monitor=500),
                     integrator=pt.IntegratorConfig(method=method, dt=dt, t_end=t_end),
                     record=pt.RecordConfig(frames=20),
                     output=pt.OutputConfig(storage_dtype=storage), seed=4, **kw)


@pytest.fixture
def npz(tmp_path, rng):
    X = rng.standard_normal((120, 3))
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1]
    path = tmp_path / "data.npz"
    np.savez(path, X=X[:90], y=y[:90], X_test=X[90:], y_test=y[90:])
    return str(path)


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip(case, tmp_path, npz):
    kw = dict(CASES[case])
    if kw["oracle"] == "dataset":
        kw["data"] = npz
    cfg = _cfg(**kw)
    res = pt.run(cfg, tmp_path / "r.h5", keep=True)
    with pt.load(tmp_path / "r.h5") as run:
        assert run.complete and run.config == cfg
        np.testing.assert_array_equal(run.steps, res.frame_steps)
        np.testing.assert_array_equal(run.times, res.frame_times)
        for k in range(len(run)):
            np.testing.assert_array_equal(run.frame(k), res.frames[k])
        np.testing.assert_array_equal(run.c(-1), res.theta[:, 0])
        np.testing.assert_array_equal(run.a(-1), res.theta[:, 1:4])
        np.testing.assert_array_equal(run.b(-1), res.theta[:, 4])
        np.testing.assert_array_equal(run.theta0, res.theta0)
        for name, values in res.observables.items():
            steps, times, v = run.observable(name)
            np.testing.assert_array_equal(v, values)
            np.testing.assert_array_equal(steps, res.obs_steps)
        if kw["oracle"] == "dataset":
            assert "test_risk" in run.observable_names
            np.testing.assert_array_equal(run.data()["X"], np.load(npz)["X"])
        else:
            assert run.teacher.shape == (2, 5)


def test_float32_storage(tmp_path):
    cfg = _cfg(storage="float32")
    res = pt.run(cfg, tmp_path / "r.h5", keep=True)
    with pt.load(tmp_path / "r.h5") as run:
        f = run.frame(-1)
        assert f.dtype == np.float32
        np.testing.assert_allclose(f, res.theta, rtol=np.finfo(np.float32).eps, atol=1e-30)
        assert run.checkpoint()["theta"].dtype == np.float64  # full precision


def test_compression_and_size(tmp_path):
    cfg = _cfg(t_end=2.0, m=64)
    pt.run(cfg, tmp_path / "a.h5")
    pt.run(cfg.replace(output=pt.OutputConfig(compression="gzip")), tmp_path / "b.h5")
    with pt.load(tmp_path / "a.h5") as a, pt.load(tmp_path / "b.h5") as b:
        np.testing.assert_array_equal(a.frame(-1), b.frame(-1))


def test_h5md_conformance_with_plain_h5py(tmp_path):
    """Read the file knowing only the H5MD 1.1 spec (and our documented names)."""
    pt.run(_cfg(), tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert list(f["h5md"].attrs["version"]) == [1, 1]
        assert "name" in f["h5md/author"].attrs
        assert f["h5md/creator"].attrs["name"] == "particles"
        assert "version" in f["h5md/creator"].attrs
        for group in ("particles/neurons", "particles/teacher"):
            box = f[group]["box"]
            assert box.attrs["dimension"] == 5
            assert [b.decode() for b in box.attrs["boundary"]] == ["none"] * 5
        pos = f["particles/neurons/position"]
        step, time, value = pos["step"][:], pos["time"][:], pos["value"]
        assert value.shape == (step.size, 6, 5) and time.shape == step.shape
        assert np.all(np.diff(step) > 0) and np.all(np.diff(time) > 0)
        assert step[0] == 0 and time[0] == 0.0
        np.testing.assert_allclose(f["particles/neurons/mass"][:], 1 / 6)
        for name, g in f["observables"].items():
            assert g["step"].shape == g["time"].shape == g["value"].shape
            assert np.all(np.diff(g["step"][:]) > 0)
        cfg = json.loads(f["parameters"].attrs["config"])
        assert cfg["network"]["m"] == 6
        versions = json.loads(f["parameters"].attrs["versions"])
        assert {"numpy", "numba", "h5py", "particles"} <= set(versions)
        ck = f["parameters/checkpoint"]
        state = json.loads(ck["state"][int(ck["active"][()])].decode())
        assert state["status"] == "complete"


def test_resume_completed_run_is_a_no_op(tmp_path):
    pt.run(_cfg(), tmp_path / "r.h5")
    before = os.path.getmtime(tmp_path / "r.h5")
    assert pt.resume(tmp_path / "r.h5") is None
    assert os.path.getmtime(tmp_path / "r.h5") == before


@pytest.mark.parametrize("case", ["euler-exact", "sgd-online", "rk45-exact", "heun-sampled"])
def test_resume_extends(case, tmp_path):
    """Run to t = 0.5, then resume to t = 1: the same final state as a run to t = 1,
    bit for bit for the fixed-step methods; for the accuracy-controlled ones the
    record times (where the solver restarts) differ, so within the tolerance."""
    full = pt.simulate(_cfg(**CASES[case], t_end=1.0))
    short = _cfg(**CASES[case], t_end=0.5)
    pt.run(short, tmp_path / "r.h5")
    res = pt.resume(tmp_path / "r.h5", t_end=1.0)
    assert res.status == "complete"
    if CASES[case]["method"] == "rk45":
        np.testing.assert_allclose(res.theta, full.theta, rtol=1e-6, atol=1e-8)
        return
    assert np.array_equal(res.theta, full.theta)
    with pt.load(tmp_path / "r.h5") as run:
        assert np.array_equal(run.frame(-1), full.theta)
        assert run.complete and run.times[-1] == pytest.approx(1.0)


def test_not_a_run_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pt.load(tmp_path / "nope.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a particles run"):
        pt.load(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        pt.load(tmp_path / "text.h5")


def _write_config(tmp_path, method, oracle, t_end, every=200):
    cfg = pt.Config(problem=pt.ProblemConfig(d=2, m0=3), network=pt.NetworkConfig(m=48),
                    oracle=_oracle(oracle, batch=32, n_monitor=2000),
                    integrator=pt.IntegratorConfig(method=method, dt=0.01, t_end=t_end,
                                                   chunk=50),
                    record=pt.RecordConfig(schedule="every", every=every, observables_factor=2),
                    output=pt.OutputConfig(flush_seconds=0.0), seed=9)
    path = tmp_path / f"{method}.toml"
    import tomllib  # noqa: F401 - the file must parse as TOML
    path.write_text(_toml(C.to_dict(cfg)))
    return cfg, path


def _toml(d):
    lines = []
    for k, v in d.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {json.dumps(v)}")
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            for kk, vv in v.items():
                lines.append(f"{kk} = {json.dumps(vv)}")
    return "\n".join(lines) + "\n"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _start_run(cfg_path, out):
    """`particles run CONFIG -o OUT` in a subprocess (stderr kept as text)."""
    return subprocess.Popen([sys.executable, "-m", "particles.cli", "run", str(cfg_path),
                             "-o", str(out), "--no-animate", "-q"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_frames(proc, out, target):
    """Poll OUT until it holds ``target`` frames or the process ends; frames seen."""
    seen = 0
    while proc.poll() is None and seen < target:
        if out.exists():
            try:
                with pt.load(out) as run:
                    seen = len(run)
            except (OSError, ValueError):
                seen = 0
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
    return seen


@pytest.mark.parametrize("method,oracle,kills", [("euler", "exact", 4), ("sgd", "online", 3),
                                                 ("rk45", "exact", 3)])
def test_sigkill_then_resume_bit_for_bit(method, oracle, kills, tmp_path, rng):
    """SIGKILL a CLI run at random moments (10 kill points over the three cases): the
    file opens, its records are intact, and resume reaches the uninterrupted final state."""
    t_end = 60.0 if method != "rk45" else 20.0
    cfg, cfg_path = _write_config(tmp_path, method, oracle, t_end)
    reference = pt.simulate(cfg).theta
    n_records = len(pt.Simulation(cfg).frame_steps)
    for kill in range(kills):
        out = tmp_path / f"run{kill}.h5"
        target = int(rng.integers(2, n_records - 2))
        proc = _start_run(cfg_path, out)
        seen = _wait_for_frames(proc, out, target)
        assert proc.poll() is None, (f"the run ended (status {proc.returncode}) before "
                                     f"{target} frames were seen ({seen}): nothing to kill")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL  # the kill happened, mid-run
        with pt.load(out) as run:
            n = len(run)
            assert n >= 1
            steps = run.steps
            assert np.all(np.diff(steps) > 0)
            for k in (0, n // 2, n - 1):
                assert np.all(np.isfinite(run.frame(k)))
            ck = run.checkpoint()
            obs_steps, _, risk = run.observable("risk")
            assert np.all(np.isfinite(risk))
            # records are flushed before the checkpoint that follows them
            assert ck["step"] <= obs_steps[-1]
        res = pt.resume(out)
        final = res.theta if res is not None else pt.load(out).checkpoint()["theta"]
        assert np.array_equal(final, reference), f"kill {kill} at {seen} frames"
        with pt.load(out) as run:
            assert run.complete
            assert np.array_equal(run.frame(-1), reference)


def test_reader_polls_while_writer_appends(tmp_path):
    cfg, cfg_path = _write_config(tmp_path, "euler", "exact", 80.0, every=100)
    out = tmp_path / "live.h5"
    proc = _start_run(cfg_path, out)
    counts = []
    run = None
    while proc.poll() is None:
        if run is None and out.exists():
            run = pt.load(out)
        if run is not None:
            n = len(run)
            if n:
                assert np.all(np.isfinite(run.frame(n - 1)))
                _, t, v = run.observable("risk")
                assert t.size == v.size
            counts.append(n)
        try:
            proc.wait(timeout=0.01)
        except subprocess.TimeoutExpired:
            pass
    assert proc.returncode == 0, proc.stderr.read()
    if run is None:
        run = pt.load(out)
    counts.append(len(run))
    run.close()
    assert np.all(np.diff(counts) >= 0)
    assert len(set(counts)) > 3, counts  # growth was seen while the run was going


def test_ctrl_c_leaves_a_resumable_file(tmp_path):
    cfg, cfg_path = _write_config(tmp_path, "euler", "exact", 200.0)
    out = tmp_path / "int.h5"
    proc = _start_run(cfg_path, out)
    _wait_for_frames(proc, out, 5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait() == 130
    assert "resumable" in proc.stderr.read()
    with pt.load(out) as run:
        assert run.status == "interrupted"
        assert len(run) >= 5
    res = pt.resume(out)
    assert np.array_equal(res.theta, pt.simulate(cfg).theta)


def test_run_creates_missing_folders_and_refuses_a_file_as_folder(tmp_path):
    cfg = pt.Config(integrator=pt.IntegratorConfig(dt=0.05, t_end=0.5))
    pt.run(cfg, tmp_path / "a" / "b" / "run.h5")
    assert (tmp_path / "a" / "b" / "run.h5").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        pt.run(cfg, tmp_path / "file" / "run.h5")
