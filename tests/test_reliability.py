"""Damaged and hostile files, concurrent writers, full disks and API misuse: each ends
with a clear error (exit 2 for bad input, 1 for a failed run), never a hang, a crash
or lost data, and leaves nothing behind."""
import hashlib
import re
import os
import resource
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

import particles as pt
from particles import config as C

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENV = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _cfg(t_end=2.0, flush=0.0):
    return pt.Config(problem=pt.ProblemConfig(d=3, m0=2), network=pt.NetworkConfig(m=16),
                     integrator=pt.IntegratorConfig(dt=0.01, t_end=t_end),
                     record=pt.RecordConfig(schedule="every", every=5),
                     output=pt.OutputConfig(flush_seconds=flush), seed=2)


def _toml(cfg, path):
    lines = []
    d = C.to_dict(cfg)
    for k, v in d.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {v!r}".replace("'", '"'))
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            for kk, vv in v.items():
                val = str(vv).lower() if isinstance(vv, bool) else repr(vv).replace("'", '"')
                lines.append(f"{kk} = {val}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _cli(*args, timeout=60, **kw):
    return subprocess.run([sys.executable, "-m", "particles.cli", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=timeout, **kw)


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.h5"
    pt.run(_cfg(), path)
    return path


DAMAGE = {
    "cut at 10 %": lambda p: _truncate(p, 0.1),
    "cut at 50 %": lambda p: _truncate(p, 0.5),
    "cut at 90 %": lambda p: _truncate(p, 0.9),
    "cut by 1 byte": lambda p: _truncate(p, None),
    "zeroed tail": lambda p: _zero_tail(p),
    "not HDF5": lambda p: open(p, "wb").write(b"hello" * 100),
    "empty": lambda p: open(p, "wb").close(),
}


def _truncate(path, frac):
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size - 1 if frac is None else int(size * frac))


def _zero_tail(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(b"\0" * (size - size // 2))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_files_are_refused_at_once(damage, good, tmp_path):
    path = tmp_path / "bad.h5"
    shutil.copy(good, path)
    DAMAGE[damage](path)
    before = _digest(path)
    for args in (("info", path), ("resume", path), ("animate", path, "-o", tmp_path / "a.gif")):
        proc = _cli(*args, timeout=30)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.h5" in lines[0]
    assert _digest(path) == before  # reading never modifies the input
    assert sorted(os.listdir(tmp_path)) == ["bad.h5"]  # nothing left behind


def _hostile(good, tmp_path, kind):
    path = tmp_path / "hostile.h5"
    shutil.copy(good, path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(64, dtype=np.float64).tobytes())
    with h5py.File(path, "r+") as f:
        if kind == "external link":
            f["observables/leak"] = h5py.ExternalLink(str(secret), "/x")
        elif kind == "soft link":
            f["particles/alias"] = h5py.SoftLink("/parameters/theta0")
        elif kind == "external storage":
            f.create_dataset("parameters/extra", shape=(64,), dtype="f8",
                             external=[(str(secret), 0, 512)])
        else:
            layout = h5py.VirtualLayout(shape=(2,), dtype="f8")
            layout[:] = h5py.VirtualSource(str(secret), "x", shape=(2,))
            f.create_virtual_dataset("parameters/virtual", layout)
    return path


@pytest.mark.parametrize("kind", ["external link", "soft link", "external storage",
                                  "virtual dataset"])
def test_hostile_files_are_refused(kind, good, tmp_path):
    path = _hostile(good, tmp_path, kind)
    with pytest.raises(ValueError, match="hostile.h5"):
        pt.load(path)
    proc = _cli("resume", path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("change", ["no checkpoint state", "slot 7", "theta0 reshaped",
                                    "config not JSON", "m attribute missing"])
def test_tampered_structure_is_refused(change, good, tmp_path):
    path = tmp_path / "t.h5"
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        if change == "no checkpoint state":
            del f["parameters/checkpoint/state"]
        elif change == "slot 7":
            f["parameters/checkpoint/active"][()] = 7
        elif change == "theta0 reshaped":
            t = f["parameters/theta0"][...]
            del f["parameters/theta0"]
            f["parameters/theta0"] = t[:-1]
        elif change == "config not JSON":
            f["parameters"].attrs["config"] = "{not json"
        else:
            del f["parameters"].attrs["m"]
    with pytest.raises(pt.io.NotARunError if hasattr(pt, "io") else ValueError):
        pt.load(path)
    assert _cli("info", path).returncode == 2


HOLDER = r"""
import sys
sys.path.insert(0, {here!r})
import particles as pt
from test_reliability import _cfg

def progress(step, n_steps, t, risk):
    if step >= 50 and not progress.told:
        progress.told = True
        print("ready", flush=True)
        sys.stdin.readline()   # hold the file open until the test says go

progress.told = False
pt.run(_cfg(), {out!r}, progress=progress)
print("done", flush=True)
"""


def _holder(out):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(here=HERE, out=str(out))],
                            env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def test_one_writer_per_file(tmp_path):
    out = tmp_path / "same.h5"
    cfg_path = _toml(_cfg(), tmp_path / "c.toml")
    holder = _holder(out)
    try:
        for args in (("run", cfg_path, "-o", out, "--overwrite", "--no-animate"),
                     ("resume", out)):
            proc = _cli(*args)
            assert proc.returncode == 2, proc.stderr
            assert f"being written by process {holder.pid}" in proc.stderr
        with pytest.raises(FileExistsError, match="being written"):
            pt.resume(out)
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
    assert holder.wait() == 0 and holder.stdout.read().strip() == "done"
    assert sorted(os.listdir(tmp_path)) == ["c.toml", "same.h5"]  # the lock is gone
    np.testing.assert_array_equal(pt.load(out).frame(-1), pt.simulate(_cfg()).theta)


def test_a_killed_writers_lock_is_taken_over(tmp_path):
    out = tmp_path / "k.h5"
    holder = _holder(out)
    holder.kill()
    holder.wait()
    assert (tmp_path / "k.h5.lock").exists()  # stale: its process is gone
    res = pt.resume(out)
    assert res.status == "complete"
    assert not (tmp_path / "k.h5.lock").exists()
    with pt.load(out) as run:
        ref = pt.simulate(_cfg(), keep=True) if False else pt.simulate(_cfg())
        np.testing.assert_array_equal(run.frame(-1), ref.theta)
        np.testing.assert_array_equal(run.observable("risk")[2], ref.observables["risk"])


def _limited(limit):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


@pytest.mark.parametrize("limit", [60_000, 400_000])
def test_file_size_limit_ends_cleanly_and_resumes_every_record(limit, tmp_path):
    cfg = _cfg(t_end=20.0).replace(network=pt.NetworkConfig(m=64))
    cfg_path = _toml(cfg, tmp_path / "c.toml")
    pt.simulate(cfg.replace(integrator=cfg.integrator.replace(t_end=0.02)))  # warm the cache
    out = tmp_path / "full.h5"
    proc = subprocess.run([sys.executable, "-m", "particles.cli", "run", cfg_path, "-o", out,
                           "--no-animate", "-q"], env=ENV, capture_output=True, text=True,
                          preexec_fn=_limited(limit), timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left" in lines[0] and "resumable" in lines[0]
    assert sorted(os.listdir(tmp_path)) == ["c.toml", "full.h5"]
    res = pt.resume(out)
    ref = pt.simulate(cfg)
    np.testing.assert_array_equal(res.theta, ref.theta)
    with pt.load(out) as run:
        np.testing.assert_array_equal(run.steps, ref.frame_steps)
        for name in ref.observables:
            np.testing.assert_array_equal(run.observable(name)[2], ref.observables[name])


KILL_AT_STEP_1 = r"""
import os, signal, sys
sys.path.insert(0, {here!r})
import particles as pt
from test_reliability import _cfg

def progress(step, n_steps, t, risk):
    os.kill(os.getpid(), signal.SIGKILL)

pt.run(_cfg(flush=1000.0), {out!r}, progress=progress)
"""


def test_step_zero_records_survive_a_kill_in_the_first_flush_interval(tmp_path):
    out = tmp_path / "z.h5"
    proc = subprocess.run([sys.executable, "-c", KILL_AT_STEP_1.format(here=HERE, out=str(out))],
                          env=ENV, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    with pt.load(out) as run:
        assert list(run.steps) == [0]
        assert run.observable("risk")[0].tolist() == [0]
    res = pt.resume(out)
    ref = pt.simulate(_cfg(flush=1000.0))
    np.testing.assert_array_equal(res.theta, ref.theta)
    with pt.load(out) as run:
        np.testing.assert_array_equal(run.observable("risk")[2], ref.observables["risk"])


def test_api_misuse_is_refused_before_compiled_code(rng):
    X = rng.standard_normal((40, 2))
    y = np.sin(X[:, 0])
    with pytest.raises(ValueError, match=r"X has shape \(40, 2\) and y \(5,\)"):
        pt.sample_oracle(X, y[:5], 4)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        pt.sample_oracle(bad, y, 4)
    orc = pt.sample_oracle(X, y, 4)
    with pytest.raises(ValueError, match=r"lr=\(1, 1\) is invalid"):
        pt.FixedStep("euler", orc, 0.1, lr=(1, 1))
    with pytest.raises(ValueError, match="theta has shape"):
        orc.velocity(np.zeros((3, 4)))


def _misuse_cases():
    gen = np.random.default_rng(0)
    problem = pt.teacher_student(2, rng=np.random.default_rng(0))
    return [
        ("teacher_student d=1.5", lambda: pt.teacher_student(1.5, rng=gen), TypeError,
         r"d must be an integer, got 1\.5"),
        ("teacher_student d=0 without rng", lambda: pt.teacher_student(0), ValueError,
         "d=0 is invalid"),
        ("teacher_student rng=3", lambda: pt.teacher_student(2, rng=3), TypeError,
         "rng must be a numpy.random.Generator"),
        ("random_teacher m0=0", lambda: pt.random_teacher(gen, 2, 0), ValueError,
         "m0=0 is invalid"),
        ("random_teacher d=0", lambda: pt.random_teacher(gen, 0, 2), ValueError,
         "d=0 is invalid"),
        ("random_teacher scale=-1", lambda: pt.random_teacher(gen, 2, 2, scale=-1.0),
         ValueError, r"scale=-1\.0 is invalid"),
        ("sample_inputs n=-1", lambda: pt.sample_inputs(gen, -1, 2), ValueError,
         "n=-1 is invalid"),
        # was silently Gaussian
        ("sample_inputs inputs=cube", lambda: pt.sample_inputs(gen, 3, 2, inputs="cube"),
         ValueError, "inputs='cube' is invalid"),
        ("sample_inputs rng=None", lambda: pt.sample_inputs(None, 3, 2), TypeError,
         "rng must be a numpy.random.Generator"),
        ("initialize rng=0", lambda: pt.initialize(0, 4, 2), TypeError,
         "rng must be a numpy.random.Generator"),
        ("dataset 1-D X", lambda: pt.dataset(np.zeros(3), np.zeros(3)), ValueError,
         r"X has shape \(3,\); allowed: an array of shape \(n, d\)"),
        ("exact_oracle of a string", lambda: pt.exact_oracle("x", 4), TypeError,
         "problem must be a particles Problem"),
        ("online_oracle gen=None", lambda: pt.online_oracle(problem, 4, None), TypeError,
         "gen must be a numpy.random.Generator"),
        ("FixedStep of a string", lambda: pt.FixedStep("euler", "x", 0.1), TypeError,
         "oracle must be a particles oracle"),
        ("OdeDriver of a string", lambda: pt.OdeDriver("rk45", "x", 0.1), TypeError,
         "oracle must be a particles oracle"),
        ("State of a vector", lambda: pt.State(np.zeros(3)), ValueError,
         r"theta \(shape \(3,\), float64\) is invalid"),
        ("free_energy T=-1", lambda: pt.free_energy(1.0, 2.0, -1.0), ValueError,
         r"temperature=-1\.0 is invalid"),
        ("entropy of a vector", lambda: pt.entropy(np.zeros(3)), ValueError,
         r"theta has shape \(3,\)"),
        ("entropy of no particle", lambda: pt.entropy(np.zeros((0, 4))), ValueError,
         r"theta has shape \(0, 4\)"),
        ("entropy columns of ints", lambda: pt.entropy(np.zeros((5, 4)), [0, 1]), ValueError,
         "columns has shape"),
        ("temperature_at T=None", lambda: pt.temperature_at(1.0, None), ValueError,
         "temperature=None is invalid"),
        ("temperature_at t=-1", lambda: pt.temperature_at(-1.0, 1.0), ValueError,
         r"t=-1\.0 is invalid"),
        ("run_sweep of a string", lambda: pt.run_sweep("x", "unused"), TypeError,
         "sweep must be a particles.Sweep"),
        ("to_dict of a string", lambda: pt.to_dict("x"), TypeError,
         "config must be a particles.Config"),
    ]


@pytest.mark.parametrize("case", range(len(_misuse_cases())),
                         ids=[c[0] for c in _misuse_cases()])
def test_library_misuse_names_the_argument(case, tmp_path, monkeypatch):
    # each misuse is refused with an error that names the argument, its value and what
    # is allowed (before, these raised AttributeError or NumPy's messages, or were
    # accepted: sample_inputs(inputs="cube") drew Gaussian inputs); nothing is written
    monkeypatch.chdir(tmp_path)
    name, call, error, message = _misuse_cases()[case]
    with pytest.raises(error, match=message):
        call()
    assert os.listdir(tmp_path) == []


def test_failures_leave_nothing_behind(tmp_path, good):
    # a bad data path: no output directory is created
    out = tmp_path / "new_dir" / "r.h5"
    cfg = _cfg().replace(problem=pt.ProblemConfig(kind="dataset", d=3,
                                                  data=str(tmp_path / "missing.npz")),
                         oracle=pt.OracleConfig(kind="dataset"))
    proc = _cli("run", _toml(cfg, tmp_path / "c.toml"), "-o", out, "--no-animate")
    assert proc.returncode == 2 and not (tmp_path / "new_dir").exists()
    # an existing directory as output, even with --overwrite
    (tmp_path / "d.h5").mkdir()
    proc = _cli("run", tmp_path / "c.toml", "-o", tmp_path / "d.h5", "--overwrite")
    assert proc.returncode == 2
    assert sorted(os.listdir(tmp_path)) == ["c.toml", "d.h5"]
    # a resume that fails (diverged run) leaves no .tmp and keeps the file as it was
    div = tmp_path / "div.h5"
    pt.run(_cfg().replace(integrator=pt.IntegratorConfig(dt=50.0, t_end=1000.0)), div)
    before = _digest(div)
    proc = _cli("resume", div)
    assert proc.returncode == 2 and _digest(div) == before
    assert not [p for p in os.listdir(tmp_path) if p.endswith((".tmp", ".lock"))]


def test_divergence_advice_is_a_step_that_was_checked(tmp_path):
    cfg = _cfg().replace(integrator=pt.IntegratorConfig(dt=50.0, t_end=400.0))
    res = pt.simulate(cfg)
    assert res.status == "diverged", res.message
    import re

    dt = float(re.search(r"rerun with integrator.dt = ([0-9.e+-]+)", res.message).group(1))
    assert dt < 50.0
    again = pt.simulate(cfg.replace(integrator=cfg.integrator.replace(dt=dt)))
    assert again.status == "complete", again.message


@pytest.mark.parametrize("setting,message", [
    ("network.m=1000000000", "the run needs about"),
    ("oracle.n=1000000000000", "the run needs about"),
    ("integrator.t_end=1e300", "steps; allowed: at most"),
    ("init.path=\"DIR\"", "is not a file"),
])
def test_sizes_and_paths_exit_2_before_any_work(setting, message, tmp_path):
    cfg = _cfg().replace(oracle=pt.OracleConfig(kind="sampled", n=100),
                         init=pt.InitConfig(scheme="array", path=str(tmp_path / "t.npy")))
    np.save(tmp_path / "t.npy", np.zeros((16, 5)))
    (tmp_path / "DIR").mkdir()
    setting = setting.replace("DIR", str(tmp_path / "DIR"))
    proc = _cli("run", _toml(cfg, tmp_path / "c.toml"), "-o", tmp_path / "out" / "r.h5",
                "--set", setting)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_huge_record_counts_are_capped(tmp_path):
    cfg = _cfg().replace(record=pt.RecordConfig(schedule="log", frames=10 ** 9))
    res = pt.run(cfg, tmp_path / "r.h5")
    assert res.status == "complete"
    with pt.load(tmp_path / "r.h5") as run:
        assert 2 < len(run) <= cfg.integrator.n_steps + 1


def test_bad_command_values_exit_2(good, tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    copy = tmp_path / "g.h5"
    shutil.copy(good, copy)
    before = _digest(copy)
    for args, message in ((("run", deep), "nests too deeply"),
                          (("resume", copy, "--t-end", "inf"), "--t-end=inf is invalid"),
                          (("resume", copy, "--t-end", "1e300"), "steps; allowed: at most"),
                          (("plot", copy, "--dpi", "100000"), "--dpi=100000 is invalid")):
        proc = _cli(*args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert _digest(copy) == before  # the complete file was not flipped to running
    assert pt.load(copy).status == "complete"


def test_a_checkpoint_without_its_random_stream_is_refused(tmp_path):
    import json

    cfg = _cfg().replace(oracle=pt.OracleConfig(kind="online", batch=8, n_monitor=100),
                         integrator=pt.IntegratorConfig(method="sgd", dt=0.01, t_end=2.0))
    out = tmp_path / "o.h5"
    calls = []
    pt.run(cfg, out, interrupted=lambda: calls.append(1) or len(calls) > 3)
    with h5py.File(out, "r+") as f:
        ck = f["parameters/checkpoint"]
        slot = int(ck["active"][()])
        state = json.loads(ck["state"][slot].decode())
        assert state["step"] > 0 and "noise" in state["streams"]
        del state["streams"]
        ck["state"][slot] = np.bytes_(json.dumps(state).encode())
    with pytest.raises(ValueError, match="lacks the state of the random stream 'noise'"):
        pt.resume(out)
    assert not [p for p in os.listdir(tmp_path) if p.endswith((".tmp", ".lock"))]


FAILING_WRITE = r"""
import resource, signal, sys
sys.path.insert(0, {here!r})
import particles as pt
from particles.io import writer
from test_reliability import _cfg

cfg = _cfg(t_end=20.0).replace(network=pt.NetworkConfig(m=64))
pt.simulate(cfg.replace(integrator=cfg.integrator.replace(t_end=0.02)))  # warm the cache
writer.H5Writer._space_left = lambda self, path=None: 1 << 60  # the space check is fooled
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))
from particles.cli import main
sys.exit(main(["run", {cfg!r}, "-o", {out!r}, "--no-animate", "-q"]))
"""


def test_a_write_that_fails_anyway_exits_1_without_crashing(tmp_path):
    cfg_path = _toml(_cfg(t_end=20.0).replace(network=pt.NetworkConfig(m=64)),
                     tmp_path / "c.toml")
    out = tmp_path / "w.h5"
    proc = subprocess.run([sys.executable, "-c", FAILING_WRITE.format(
        here=HERE, cfg=str(cfg_path), out=str(out))], env=ENV, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # not a segfault
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "failed at step" in lines[0] and "File too large" in lines[0]
    assert not (tmp_path / "w.h5.lock").exists() and not (tmp_path / "w.h5.tmp").exists()
    # depending on where the write failed, the file's end may be cut: then a plain
    # resume refuses it and --salvage continues it into a new file; either way every
    # record of an uninterrupted run is there afterwards
    proc = _cli("resume", out, "-q")
    target = out
    if proc.returncode == 2:
        assert "truncated" in proc.stderr
        proc = _cli("resume", out, "--salvage", "-q")
        target = tmp_path / "w-salvaged.h5"
    assert proc.returncode == 0, proc.stderr
    ref = pt.simulate(_cfg(t_end=20.0).replace(network=pt.NetworkConfig(m=64)))
    with pt.load(target) as run:
        assert run.complete
        run.check()
        np.testing.assert_array_equal(run.steps, ref.frame_steps)
        np.testing.assert_array_equal(run.frame(-1), ref.theta)
        for name in ref.observables:
            np.testing.assert_array_equal(run.observable(name)[2], ref.observables[name])


def test_problems_built_by_hand_are_checked(rng):
    with pytest.raises(ValueError, match=r"teacher has shape \(2, 4\); allowed: \(m0, d \+ 2\)"):
        pt.Problem(d=3, teacher=np.zeros((2, 4)), teacher_activation="relu")
    with pytest.raises(ValueError, match="X has shape"):
        pt.Problem(d=3, X=np.zeros((5, 2)), y=np.zeros(5))
    prob = pt.teacher_student(3, 2, rng=rng)
    with pytest.raises(ValueError, match=r"X has shape \(4, 2\); allowed: \(n, 3\)"):
        prob.labels(np.zeros((4, 2)))


def test_salvage_refuses_a_cut_file_whose_records_are_damaged(tmp_path):
    """A closed file one byte short: its last bytes hold the frames' index, so neither a
    plain resume nor --salvage accepts it; both say why in one line and write nothing
    (the salvage that succeeds is in the failed-write test above)."""
    half = tmp_path / "h.h5"
    pt.run(_cfg(), half, interrupted=lambda: True)
    size = os.path.getsize(half)
    with open(half, "r+b") as fh:
        fh.truncate(size - 1)
    before = _digest(half)
    proc = _cli("resume", half)
    assert proc.returncode == 2 and "truncated" in proc.stderr
    proc = _cli("resume", half, "--salvage", "-o", tmp_path / "new.h5")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "is damaged" in lines[0]
    assert _digest(half) == before
    assert sorted(os.listdir(tmp_path)) == ["h.h5"]


KILL_AT_60 = r"""
import os, signal, sys
sys.path.insert(0, {here!r})
import particles as pt
from test_reliability import _cfg

def progress(step, n_steps, t, risk):
    if step >= 60:
        os.kill(os.getpid(), signal.SIGKILL)

pt.run(_cfg(), {out!r}, progress=progress)
"""


def test_a_kill_that_damaged_records_restarts_from_the_initial_state(tmp_path):
    """A SIGKILL can cut a multi-page metadata write: a killed run whose records cannot
    be read back restarts from its stored initial state and rebuilds every record."""
    out = tmp_path / "k.h5"
    proc = subprocess.run([sys.executable, "-c", KILL_AT_60.format(here=HERE, out=str(out))],
                          env=ENV, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    with h5py.File(out, "r", swmr=True, locking=False) as f:  # damage the last record
        ds = f["observables/risk/value"]
        offset = ds.id.get_chunk_info(ds.shape[0] - 1).byte_offset
    with open(out, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 8)
    with pytest.raises(ValueError, match="is damaged"):
        pt.load(out)
    proc = _cli("resume", out, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "running it again from t = 0" in proc.stderr
    ref = pt.simulate(_cfg())
    with pt.load(out) as run:
        assert run.complete
        np.testing.assert_array_equal(run.frame(-1), ref.theta)
        np.testing.assert_array_equal(run.steps, ref.frame_steps)
        for name in ref.observables:
            np.testing.assert_array_equal(run.observable(name)[2], ref.observables[name])


# -- a checkpoint is complete and consistent, or refused; refusing changes nothing -------

def _interrupted_run(path, cfg):
    calls = []
    pt.run(cfg, path, interrupted=lambda: calls.append(1) or len(calls) > 3)


def _edit_state(path, mutate):
    import json

    with h5py.File(path, "r+") as f:
        ck = f["parameters/checkpoint"]
        slot = int(ck["active"][()])
        state = json.loads(ck["state"][slot].decode())
        mutate(state)
        ck["state"][slot] = np.bytes_(json.dumps(state).encode())


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


SGD = dict(oracle=pt.OracleConfig(kind="online", batch=8, n_monitor=100),
           integrator=pt.IntegratorConfig(method="sgd", dt=0.01, t_end=2.0))


@pytest.mark.parametrize("case,mutate,match", [
    ("stream null", lambda s: s["streams"].update(noise=None),
     "lacks the state of the random stream 'noise'"),
    ("stream empty", lambda s: s["streams"].update(noise={}),
     "state of the random stream 'noise' is malformed"),
    ("stream state garbled", lambda s: s["streams"]["noise"]["state"].update(state="x"),
     "state of the random stream 'noise' is malformed"),
    ("time text", lambda s: s.update(time="abc"), r"time='abc' is invalid"),
    ("time nan", lambda s: s.update(time=float("nan")), r"time=nan is invalid"),
    ("time off its step", lambda s: s.update(time=s["time"] + 1.0), "the time of its step"),
])
def test_resume_refuses_an_incomplete_checkpoint_and_changes_nothing(case, mutate, match,
                                                                    tmp_path, capsys):
    """Each of these resumed before (a stream drawn afresh: exit 0, a silently different
    run) or failed after rewriting the input; now: exit 2, one line, the file as it was."""
    from particles.cli import main

    out = tmp_path / "r.h5"
    _interrupted_run(out, _cfg().replace(**SGD))
    _edit_state(out, mutate)
    before = _digest(out)
    assert main(["resume", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] or pytest.fail(str(err))
    assert _digest(out) == before
    assert sorted(os.listdir(tmp_path)) == ["r.h5"]


def test_non_finite_checkpoint_is_refused_by_resume_and_polish(tmp_path, capsys):
    from particles.cli import main

    out = tmp_path / "n.h5"
    _interrupted_run(out, _cfg())
    with h5py.File(out, "r+") as f:
        ck = f["parameters/checkpoint"]
        slot = int(ck["active"][()])
        theta = ck["theta"][slot]
        theta[0, 0] = np.nan
        ck["theta"][slot] = theta
    before = _digest(out)
    for argv in (["resume", str(out), "-q"], ["polish", str(out)], ["certify", str(out)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "particles hold NaN or Inf" in err, (argv, err)
        assert _digest(out) == before


def test_info_check_reads_the_spare_checkpoint_slot(tmp_path, capsys):
    """A flipped byte in the spare slot (where the next checkpoint goes): info --check
    says so, polish refuses to write into the file, resume rewrites and repairs it."""
    from particles.cli import main

    out = tmp_path / "s.h5"
    pt.run(_cfg(t_end=0.5), out)
    with h5py.File(out, "r") as f:
        spare = 1 - int(f["parameters/checkpoint/active"][()])
        off = f["parameters/checkpoint/theta"].id.get_chunk_info_by_coord((spare, 0, 0)).byte_offset
    with open(out, "r+b") as fh:
        fh.seek(off + 5)
        b = fh.read(1)
        fh.seek(off + 5)
        fh.write(bytes([b[0] ^ 0xFF]))
    assert main(["info", str(out), "--check"]) == 2
    assert f"the spare checkpoint slot ({spare}) cannot be read" in capsys.readouterr().err
    before = _digest(out)
    assert main(["polish", str(out)]) == 2
    assert _digest(out) == before
    assert main(["resume", str(out), "--t-end", "1", "-q"]) == 0
    assert main(["info", str(out), "--check"]) == 0


FORCED_CREATION_FAILURE = r"""
import sys
sys.path.insert(0, {here!r})
from particles.io.writer import H5Writer
H5Writer._creation_bytes = lambda self, info: 0  # the space estimate misses: a write fails
from particles.cli import main
sys.exit(main(["run", "-o", {out!r}, "--no-animate", "-q", "--set", "network.m=2000",
               "--set", "record.schedule=every", "--set", "record.every=1",
               "--set", "integrator.t_end=2"]))
"""


@pytest.mark.parametrize("forced", [False, True])
def test_file_size_limit_at_creation_leaves_nothing(forced, tmp_path):
    """Creating the run file under a 100 KB limit segfaulted (exit 139) and left
    OUT.h5.tmp and OUT.h5.lock. Now the space is checked before the file is created
    (exit 1, one line); when a write fails anyway (the estimate forced to 0) HDF5 is
    never called again, the temporary file and the lock are removed, exit 1."""
    out = tmp_path / "x.h5"
    if forced:
        argv = [sys.executable, "-c", FORCED_CREATION_FAILURE.format(here=HERE, out=str(out))]
    else:
        argv = [sys.executable, "-m", "particles.cli", "run", "-o", str(out), "--no-animate",
                "-q", "--set", "network.m=2000", "--set", "record.schedule=every",
                "--set", "record.every=1", "--set", "integrator.t_end=2"]
    proc = subprocess.run(argv, env=ENV, capture_output=True, text=True,
                          preexec_fn=_limited(100 * 1024), timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    if forced:
        assert last.startswith("error: writing") and "nothing was kept" in last
    else:
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "no space left to create" in last and "nothing was written" in last
    assert os.listdir(tmp_path) == []


# -- sizes from the numbers, bad paths before any write, one line for bad input ------------

def _sweep(**kw):
    from particles.experiments.sweep import Sweep

    base = pt.Config(network=pt.NetworkConfig(m=4),
                     integrator=pt.IntegratorConfig(dt=0.05, t_end=0.1),
                     record=pt.RecordConfig(kernel_probes=0))
    return Sweep(base=base, **kw)


@pytest.mark.parametrize("kw,key", [
    (dict(trials=10 ** 9), "sweep.trials"),
    (dict(grid={"init.tau": [0.1] * 1000, "network.m": [4] * 1000}), "sweep.grid"),
    (dict(grid={f"init.tau_{c}": [0.1] * 1000 for c in "cab"} | {"init.tau": [1.0] * 1000}),
     "sweep.grid"),
])
def test_sweep_size_is_refused_from_the_numbers(kw, key):
    """10^9 trials or a 10^6 / 10^12-point grid: refused at once (before, every run's
    config was built first: a minute, or a MemoryError)."""
    with pytest.raises(pt.ConfigError, match=rf"{key} makes .* runs .*at most 100000"):
        _sweep(**kw)


def test_sweep_bad_post_fails_before_any_run(tmp_path):
    from particles.experiments.sweep import run_sweep

    out = tmp_path / "sw"
    with pytest.raises(pt.ConfigError, match="sweep.post='no_such_module:f' cannot be loaded"):
        run_sweep(_sweep(trials=2, post="no_such_module:f"), out, workers=1, progress=False)
    assert not out.exists()


def test_sweep_unreachable_dask_leaves_no_file(tmp_path):
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.distributed")  # its defaults are in dask.config before the
    from particles.experiments.sweep import run_sweep  # override below (which undoes only it)

    out = tmp_path / "sw"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(Exception):
            run_sweep(_sweep(trials=2), out, dask="tcp://127.0.0.1:9", progress=False)
    assert not out.exists()


def test_second_sweep_into_the_same_directory_is_refused(tmp_path):
    """A second sweep while one runs in the directory: refused (exit 2 from the CLI),
    and the first's runs are not marked failed."""
    from particles.experiments.sweep import run_sweep
    from particles.io.lock import WriterLock

    out = tmp_path / "sw"
    first = run_sweep(_sweep(trials=2), out, workers=1, progress=False)
    assert all(r["status"] == "complete" for r in first.rows)
    summary = (out / "summary.csv").read_text()
    with WriterLock(str(out / "sweep")):  # as a sweep running in another process holds it
        with pytest.raises(FileExistsError, match="being written by"):
            run_sweep(_sweep(trials=2), out, workers=1, progress=False)
    assert (out / "summary.csv").read_text() == summary


def test_failed_commands_change_no_file(tmp_path, capsys):
    from particles.cli import main

    run = tmp_path / "r.h5"
    pt.run(_cfg(t_end=0.3), run)
    before = _digest(run)
    bad = str(tmp_path / "missing" / "x.h5")
    assert main(["certify", str(run), "--grow", bad]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["resume", str(run), "--salvage", "-o", bad]) == 2
    assert _digest(run) == before
    assert sorted(os.listdir(tmp_path)) == ["r.h5"]  # no lock left behind
    for argv in (["run", "-o", "", "--no-animate"], ["figure", "langevin", "-o", ""]):
        assert main(argv) == 2
        assert "-o/--output='' is empty" in capsys.readouterr().err
    assert main(["animate", str(run), "--size", "inf"]) == 2
    assert "--size=inf is invalid" in capsys.readouterr().err
    assert main(["certify", str(run), "--starts", str(10 ** 12)]) == 2
    assert "--starts=1000000000000 is invalid" in capsys.readouterr().err
    assert _digest(run) == before and sorted(os.listdir(tmp_path)) == ["r.h5"]


@pytest.mark.parametrize("kv,match", [
    ("network.alpha=1e308", r"network.alpha=1e\+308 is invalid"),
    ("network.alpha=1e-200", r"network.alpha=1e-200 is invalid"),
    ("init.tau=1e300", r"init.tau=1e\+300 is invalid"),
    ("problem.m0=1000000000", r"problem.m0 = 1000000000"),
])
def test_huge_values_are_bad_input_in_one_line(kv, match, tmp_path, capsys):
    """Before: warnings, then a failed run (exit 1: OverflowError, RecursionError) or a
    MemoryError; now exit 2 and one line naming the key."""
    from particles.cli import main

    assert main(["run", "-o", str(tmp_path / "h.h5"), "--no-animate", "-q", "--set", kv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(match, err[0]), err
    assert os.listdir(tmp_path) == []


def test_interrupt_while_starting_exits_130_without_traceback(monkeypatch, capsys):
    import importlib

    cli = importlib.import_module("particles.cli.main")

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_build_parser", interrupted)
    assert cli.main(["info", "x.h5"]) == 130
    assert capsys.readouterr().err == ""


def test_bad_data_files_get_one_line_naming_the_key(tmp_path, capsys):
    """Raw NumPy, zip and codec messages (or tracebacks) became one line naming the key."""
    from particles.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "arr.npy", rng.standard_normal((4, 3)))
    np.savez(tmp_path / "data.npz", X=rng.standard_normal((10, 2)), y=rng.standard_normal(10))
    good = (tmp_path / "data.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    (tmp_path / "noise.npz").write_bytes(rng.bytes(500))
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "bin.toml").write_bytes(b"seed = 1\n\xff\xfe\x00garbage")
    cases = [
        (["--set", "problem.kind=dataset", "--set", "oracle.kind=dataset", "--set",
          f"problem.data={tmp_path / 'arr.npy'}"], "problem.data="),
        (["--set", "problem.kind=dataset", "--set", "oracle.kind=dataset", "--set",
          f"problem.data={tmp_path / 'cut.npz'}"], "problem.data="),
        (["--set", "problem.kind=dataset", "--set", "oracle.kind=dataset", "--set",
          f"problem.data={tmp_path / 'noise.npz'}"], "problem.data="),
        (["--set", "init.scheme=array", "--set", f"init.path={tmp_path / 'data.npz'}"],
         "init.path="),
        (["--set", "init.scheme=array", "--set", f"init.path={tmp_path / 'empty.npy'}"],
         "init.path="),
    ]
    for extra, key in cases:
        assert main(["run", "-o", str(tmp_path / "o.h5"), "--no-animate", "-q"] + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and key in err[0], (extra, err)
    assert main(["run", str(tmp_path / "bin.toml"), "-o", str(tmp_path / "o.h5")]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("fraction", [0.35, 0.6, 0.85, 0.99])
def test_file_size_limit_at_any_point_is_resumable(fraction, tmp_path):
    """Fault injection: the run's own final size S measured, then the run repeated under
    a file-size limit of fraction x S (the first flushes, mid-run, the last records, the
    final write): exit 1 with one line, no stray file, and a resume (no limit) reaches
    the uninterrupted run's final state bit for bit with every record."""
    cfg = _cfg(t_end=3.0).replace(network=pt.NetworkConfig(m=64))
    cfg_path = _toml(cfg, tmp_path / "c.toml")
    ref = pt.simulate(cfg)
    full = tmp_path / "full.h5"
    pt.run(cfg, full)
    size = os.path.getsize(full)
    os.remove(full)
    out = tmp_path / "cut.h5"
    proc = subprocess.run([sys.executable, "-m", "particles.cli", "run", cfg_path, "-o", out,
                           "--no-animate", "-q"], env=ENV, capture_output=True, text=True,
                          preexec_fn=_limited(int(fraction * size)), timeout=300)
    if proc.returncode == 0:  # the limit was not reached (HDF5 wrote less this time)
        assert os.path.getsize(out) <= fraction * size
    else:
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "no space left" in lines[0], lines
    assert sorted(os.listdir(tmp_path)) == ["c.toml", "cut.h5"]
    res = pt.resume(out)
    if res is not None:
        np.testing.assert_array_equal(res.theta, ref.theta)
    with pt.load(out) as run:
        assert run.complete
        np.testing.assert_array_equal(run.frame(-1), ref.theta)
        np.testing.assert_array_equal(run.steps, ref.frame_steps)
        for name in ref.observables:
            np.testing.assert_array_equal(run.observable(name)[2], ref.observables[name])
