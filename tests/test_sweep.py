"""Sweeps: axes and seeds, executors that agree bit for bit, resumption after a kill,
failures recorded, the table, the command line."""
import json
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

import particles as pt
from particles.experiments import sweep as sw
from particles.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE = pt.Config(network=pt.NetworkConfig(m=8),
                 init=pt.InitConfig(symmetric=True),
                 integrator=pt.IntegratorConfig(dt=0.05, t_end=5.0),
                 record=pt.RecordConfig(frames=6, particles="ends"))


def small_sweep(**kw):
    spec = dict(base=BASE, grid={"init.tau": [0.1, 1.0]}, zip={"network.m": [8, 12]},
                trials=2, name="s")
    spec.update(kw)
    return sw.Sweep(**spec)


def long_sweep():
    """small_sweep with runs long enough (10^4 steps) that the other runs are still going
    when the first one reports: short ones can all finish before the parent hears of it."""
    return small_sweep(base=BASE.replace(integrator=BASE.integrator.replace(t_end=500.0)))


def test_points_seeds_and_configs():
    s = small_sweep(seeds={"init": "point"})
    assert s.points() == [{"init.tau": 0.1, "network.m": 8}, {"init.tau": 0.1, "network.m": 12},
                          {"init.tau": 1.0, "network.m": 8}, {"init.tau": 1.0, "network.m": 12}]
    cfgs = s.configs()
    assert len(cfgs) == 8 and cfgs[5].init.tau == 0.1 and cfgs[5].network.m == 12
    # problem and run seeds: one per trial; init seeds: one per point and trial
    assert len({c.problem.seed for c in cfgs[:4]}) == 1
    assert cfgs[0].problem.seed != cfgs[4].problem.seed
    assert len({c.seed for c in cfgs[:4]}) == 1
    assert len({c.init.seed for c in cfgs}) == 8
    fixed = small_sweep(seeds={"problem": "fixed", "run": "fixed"}).configs()
    assert {c.problem.seed for c in fixed} == {None}
    assert {c.seed for c in fixed} == {BASE.seed}


@pytest.mark.parametrize("spec,match", [
    (dict(grid={"init.tau": []}), "sweep.grid.init.tau"),
    (dict(zip={"network.m": [8, 12], "init.tau": [1.0]}), "lengths"),
    (dict(grid={"init.tau": [1.0]}, zip={"init.tau": [1.0]}), "both grid and zip"),
    (dict(grid={"seed": [1, 2]}), "sweep.seeds"),
    (dict(trials=0), "sweep.trials"),
    (dict(seeds={"teacher": "trial"}), "sweep.seeds has the key"),
    (dict(seeds={"init": "always"}), "sweep.seeds.init"),
    (dict(name="a/b"), "sweep.name"),
])
def test_bad_specs_are_refused(spec, match):
    base = dict(base=BASE, grid={"init.tau": [1.0]})
    base.update(spec)
    with pytest.raises(pt.ConfigError, match=match):
        sw.Sweep(**base)


def test_bad_point_is_refused_before_any_run(tmp_path):
    s = small_sweep(grid={"init.tau": [0.1, -1.0]})
    with pytest.raises(pt.ConfigError, match=r"init.tau.*-1"):
        sw.run_sweep(s, tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_toml_round_trip(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("""
[network]
m = 8
[integrator]
t_end = 2.0
[sweep]
name = "tau"
trials = 2
grid = { "init.tau" = [0.1, 1.0] }
[sweep.seeds]
init = "point"
""")
    s = sw.load_sweep(p)
    assert s.name == "tau" and s.trials == 2 and s.seeds["init"] == "point"
    assert sw.sweep_from_dict(s.to_dict()) == s
    p.write_text("[network]\nm = 8\n")
    with pytest.raises(pt.ConfigError, match=r"\[sweep\] table is missing"):
        sw.load_sweep(p)
    p.write_text("[sweep]\ngrid = { 'init.tau' = [1.0] }\nworkers = 3\n")
    with pytest.raises(pt.ConfigError, match="unknown key sweep.workers"):
        sw.load_sweep(p)


def _final(table):
    return {os.path.basename(r["path"]): (r["final.risk"], r["final.distance"],
                                          r.get("polished.risk"), r.get("certificate"))
            for r in table.rows}


def test_serial_pool_and_dask_agree_bit_for_bit(tmp_path):
    # with a post-processing step (polish, certificate, convex baseline: SciPy and BLAS
    # from Python) that must not depend on the executor's threads either
    s = small_sweep(post="particles.experiments.figures.m_convergence:post")
    serial = sw.run_sweep(s, tmp_path / "serial", workers=1, progress=False)
    pool = sw.run_sweep(s, tmp_path / "pool", workers=2, progress=False)
    assert len(serial) == 8 and {r["status"] for r in serial.rows} == {"complete"}
    assert _final(serial) == _final(pool)
    for r in serial.rows:
        other = os.path.join(tmp_path / "pool", os.path.basename(r["path"]))
        with pt.Run(r["path"]) as a, pt.Run(other) as b:
            np.testing.assert_array_equal(a.frame(-1), b.frame(-1))
            assert len(a) == 2  # particles only at the ends
    pytest.importorskip("dask.distributed", reason="Dask's distributed scheduler is not "
                        "installed (pip install 'meanfield-particles[dask]')")
    dask = sw.run_sweep(s, tmp_path / "dask", workers=2, dask="local", progress=False)
    assert _final(serial) == _final(dask)
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        mine = sw.run_sweep(s, tmp_path / "client", dask=client, progress=False)
        assert client.status == "running"  # the caller's client is left open
    assert _final(serial) == _final(mine)


def test_index_table_and_curves(tmp_path):
    s = small_sweep()
    table = sw.run_sweep(s, tmp_path / "out", workers=1, progress=False)
    with h5py.File(tmp_path / "out" / "index.h5", "r") as f:
        assert len(f["runs"]) == 8
        assert "particles" in f["runs/s-p000-t00"]  # external links resolve
        np.testing.assert_array_equal(f["table/init.tau"][()], table.column("init.tau"))
        assert json.loads(f.attrs["sweep"])["sweep"]["trials"] == 2
    lines = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert len(lines) == 9 and lines[0].startswith("point,trial,init.tau,network.m")
    curves = table.curve("tau", "final.risk", by="network.m")
    assert [c["label"] for c in curves] == ["network.m = 8", "network.m = 12"]
    for c in curves:
        assert c["x"] == [0.1, 1.0] and c["n"] == [2, 2]
        sel = [r["final.risk"] for r in table.rows
               if r["init.tau"] == 0.1 and r["network.m"] == float(c["label"].split()[-1])]
        np.testing.assert_allclose(c["mean"][0], np.mean(sel), rtol=1e-15)
        np.testing.assert_allclose(c["std"][0], np.std(sel), rtol=1e-15)
    # by default the other swept key separates the curves: never averaged together
    assert [c["label"] for c in table.curve("tau", "final.risk")] == \
        ["network.m = 8", "network.m = 12"]
    assert [c["n"] for c in table.curve("tau", "final.risk", by=[])] == [[4, 4]]
    with table.run(0) as run:
        assert run.complete
    with pytest.raises(KeyError, match="no column"):
        table.column("nope")
    with pytest.raises(ValueError, match="allowed: point, trial"):  # bad input, exit 2
        table.column("nope")
    # the directory moves with its links and paths
    os.rename(tmp_path / "out", tmp_path / "moved")
    moved = sw.load(tmp_path / "moved")
    with moved.run(3) as run:
        assert run.complete


KILLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import particles.dynamics.runner as runner
from test_sweep import small_sweep
from particles.experiments import sweep as sw

original = runner.run
calls = []

def run(config, path, **kw):
    calls.append(path)
    if len(calls) == 3:  # the third run dies half way through
        def progress(step, n, t, risk):
            if step >= 40:
                os.kill(os.getpid(), signal.SIGKILL)
        kw["progress"] = progress
    return original(config, path, **kw)

runner.run = run
sw.run_sweep(small_sweep(), {out!r}, workers=1, progress=False)
"""


def test_a_killed_sweep_resumes_to_the_same_results(tmp_path):
    out = str(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", KILLER.format(tests=os.path.join(ROOT, "tests"),
                                                               out=out)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    files = sorted(f for f in os.listdir(out) if f.endswith(".h5"))
    assert len(files) == 3  # two complete, one killed half way
    with pt.load(os.path.join(out, files[-1])) as run:
        assert run.status == "running"
    table = sw.run_sweep(small_sweep(), out, workers=2, progress=False)
    outcomes = sorted(r["outcome"] for r in table.rows)
    assert outcomes == ["ran"] * 5 + ["resumed"] + ["skipped"] * 2
    reference = sw.run_sweep(small_sweep(), tmp_path / "ref", workers=1, progress=False)
    assert _final(table) == _final(reference)
    for r in reference.rows:
        with pt.Run(r["path"]) as a, pt.Run(os.path.join(out, os.path.basename(r["path"]))) as b:
            np.testing.assert_array_equal(a.frame(-1), b.frame(-1))
            for name in a.observable_names:
                np.testing.assert_array_equal(a.observable(name)[2], b.observable(name)[2])


def test_a_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    s = small_sweep(trials=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "s-p001-t00.h5").write_text("not an HDF5 file")
    table = sw.run_sweep(s, out, workers=1, progress=False)
    failed = table.failed()
    assert len(failed) == 1 and "s-p001-t00.h5" in failed[0]["path"]
    assert failed[0]["error"]
    assert sum(r["status"] == "complete" for r in table.rows) == 3
    assert (out / "s-p001-t00.h5").read_text() == "not an HDF5 file"  # never overwritten
    # another sweep in the same directory is refused
    with pytest.raises(pt.ConfigError, match="another sweep"):
        sw.run_sweep(small_sweep(trials=2), out, workers=1, progress=False)


def test_command_line_sweep_and_plot(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("""
[network]
m = 8
[init]
symmetric = true
[integrator]
dt = 0.05
t_end = 3.0
[record]
frames = 4
particles = "ends"
[sweep]
name = "tau"
trials = 2
grid = { "init.tau" = [0.1, 0.5, 2.0] }
""")
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "-o", str(out), "--workers", "1"]) == 0
    text = capsys.readouterr()
    assert "wrote 6 runs" in text.out and "6 complete" in text.out
    assert "[6/6] tau-p002-t01.h5: ran, complete" in text.err  # one line per run
    png = tmp_path / "c.png"
    assert main(["plot", str(out), "--kind", "sweep", "--x", "tau", "--y", "final.risk", "-o",
                 str(png)]) == 0
    assert png.stat().st_size > 1000
    assert main(["sweep", str(spec), "-o", str(out), "-q"]) == 0  # all skipped
    assert main(["plot", str(out), "--kind", "sweep", "--x", "tau"]) == 2
    assert main(["sweep", str(tmp_path / "missing.toml"), "-o", str(out)]) == 2


INTERRUPTER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_sweep import long_sweep
from particles.experiments import sweep as sw

# Ctrl-C in a terminal raises KeyboardInterrupt; a process started in the background by
# a non-interactive shell inherits SIGINT ignored, so install Python's handler
signal.signal(signal.SIGINT, signal.default_int_handler)

def progress(done, total, res):
    if done == 1:  # Ctrl-C after the first finished run, the others in flight or queued
        os.kill(os.getpid(), signal.SIGINT)

try:
    sw.run_sweep(long_sweep(), {out!r}, workers=2, progress=progress)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_leaves_the_sweep_resumable(tmp_path):
    out = str(tmp_path / "interrupted")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", INTERRUPTER.format(
        tests=os.path.join(ROOT, "tests"), out=out)], env=env, capture_output=True, text=True)
    assert proc.returncode == 130, proc.stderr
    done = sw.load(out)  # the index was written on the way out
    assert 1 <= sum(r["status"] == "complete" for r in done.rows) < 8
    table = sw.run_sweep(long_sweep(), out, workers=2, progress=False)
    assert {r["status"] for r in table.rows} == {"complete"}
    reference = sw.run_sweep(long_sweep(), tmp_path / "ref", workers=1, progress=False)
    assert _final(table) == _final(reference)


def test_tables_as_data_frames_and_labelled_arrays(tmp_path):
    pd = pytest.importorskip("pandas", reason="pandas is not installed (the data extra)")
    pytest.importorskip("xarray", reason="xarray is not installed (the data extra)")
    table = sw.run_sweep(small_sweep(), tmp_path / "out", workers=1, progress=False)
    df = table.to_pandas()
    assert list(df.columns) == table.columns and len(df) == len(table) == 8
    np.testing.assert_array_equal(df["final.risk"].to_numpy(), table.column("final.risk"))
    means = df.groupby(["init.tau", "network.m"])["final.risk"].mean()
    ds = table.to_xarray()  # grid key and zip position as dimensions, then the trials
    assert ds["final.risk"].dims == ("init.tau", "zip", "trial")
    assert ds["final.risk"].shape == (2, 2, 2)
    np.testing.assert_array_equal(ds["network.m"].values, [8, 12])
    for (tau, m), value in means.items():
        j = int(np.flatnonzero(ds["network.m"].values == m)[0])
        np.testing.assert_allclose(
            float(ds["final.risk"].sel({"init.tau": tau}).isel(zip=j).mean("trial")),
            value, rtol=1e-15)
    assert isinstance(df, pd.DataFrame)
