"""Fault injection on every command that writes: a file-size limit (``ulimit -f``, the
same failure as a full disk) at several points of each command's writes.

The rules (issue "reliability, third round"): exit 1 with one line on stderr (a failed
command, not bad input); no stray temporary or lock file; a file that existed before is
unchanged, or (a run file being extended) intact and resumable; and the same command
without the limit then completes. ``run`` itself is covered in tests/test_reliability.py
(creation, first flush, mid-run and final write), and so is ``resume --salvage``, which
writes through the same writer.

Each case first runs the command without the limit: that measures the size of what it
writes (the limits are fractions of it) and compiles every kernel it needs (a limited
process cannot write the Numba cache; it would warn).
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import particles as pt
from test_reliability import ENV, _digest, _limited

#: a script that runs the command line with the space check fooled, so that a write
#: itself fails (the path taken when the estimate of the room needed is too low)
FOOLED = ("import sys\n"
          "from particles.io import writer\n"
          "writer.space_left = lambda path: 1 << 60\n"
          "from particles.cli import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


def _cli(args, cwd, limit=None, fooled=False):
    head = [sys.executable, "-c", FOOLED] if fooled else [sys.executable, "-m", "particles.cli"]
    proc = subprocess.run(head + [str(a) for a in args], env=ENV, capture_output=True,
                          text=True, cwd=cwd, timeout=300,
                          preexec_fn=_limited(int(limit)) if limit else None)
    return proc.returncode, proc.stderr.strip().splitlines()


def _stray(folder):
    return sorted(os.path.relpath(os.path.join(d, n), folder)
                  for d, _, names in os.walk(folder) for n in names
                  if ".tmp" in n or n.endswith(".lock"))


def _cfg(m=16, t_end=2.0):
    return pt.Config(network=pt.NetworkConfig(m=m),
                     integrator=pt.IntegratorConfig(dt=0.05, t_end=t_end),
                     record=pt.RecordConfig(kernel_probes=0), seed=3)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A finished run file (and the size of the annotated copies polish and certify
    write, measured without a limit)."""
    folder = tmp_path_factory.mktemp("good")
    path = folder / "good.h5"
    pt.run(_cfg(), path)
    return path


def _failed_cleanly(code, err, folder):
    assert code == 1, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not _stray(folder), _stray(folder)


@pytest.mark.parametrize("command", ["polish", "certify"])
@pytest.mark.parametrize("point", ["room checked", "write fails"])
def test_annotations_leave_the_run_file_unchanged(command, point, good, tmp_path):
    """polish and certify write into an existing run file: under the limit they exit 1
    and the file is byte for byte as it was (they annotate a copy and rename it). Before,
    polish crashed (exit -11) and certify wrote half an annotation and exited 2."""
    command = [command] + (["--gtol", "1e-5"] if command == "polish" else [])
    ref = tmp_path / "ref.h5"
    shutil.copy(good, ref)
    assert _cli(command + [ref], tmp_path)[0] == 0  # compiles; the annotated size
    grown = os.path.getsize(ref) - os.path.getsize(good)
    assert grown > 0
    run = tmp_path / "run.h5"
    shutil.copy(good, run)
    before = _digest(run)
    size = os.path.getsize(run)
    if point == "room checked":  # the copy fits, the annotation does not
        code, err = _cli(command + [run], tmp_path, limit=size + grown // 2)
        assert "no space left" in err[-1] and "the file is unchanged" in err[-1], err
    else:  # the check is fooled: a write of HDF5 fails inside the copy
        code, err = _cli(command + [run], tmp_path, limit=size + 256, fooled=True)
        assert "file too large" in err[-1].lower() and "the file is unchanged" in err[-1], err
    _failed_cleanly(code, err, tmp_path)
    assert _digest(run) == before
    assert _cli(["info", run, "--check"], tmp_path)[0] == 0
    assert _cli(command + [run], tmp_path)[0] == 0  # without the limit: done
    with pt.load(run) as r:
        assert ("optimality/polish" if command[0] == "polish"
                else "optimality/certificate") in r.f


def test_certify_grow_under_the_limit(good, tmp_path):
    """certify --grow annotates the run and writes a new run file: under a limit below
    the grown file's size it exits 1; the run file is unchanged or annotated (never cut)
    and the grown file, if any, is resumable."""
    ref = tmp_path / "ref.h5"
    shutil.copy(good, ref)
    assert _cli(["certify", ref, "--grow", tmp_path / "ref-grown.h5"], tmp_path)[0] == 0
    grown_size = os.path.getsize(tmp_path / "ref-grown.h5")
    run = tmp_path / "run.h5"
    shutil.copy(good, run)
    limit = max(os.path.getsize(ref), int(0.6 * grown_size))
    code, err = _cli(["certify", run, "--grow", tmp_path / "g.h5"], tmp_path, limit=limit)
    _failed_cleanly(code, err, tmp_path)
    assert _cli(["info", run, "--check"], tmp_path)[0] == 0
    if (tmp_path / "g.h5").exists():
        assert _cli(["resume", tmp_path / "g.h5", "-q"], tmp_path)[0] == 0
        with pt.load(tmp_path / "g.h5") as g, pt.load(tmp_path / "ref-grown.h5") as r:
            np.testing.assert_array_equal(g.frame(-1), r.frame(-1))


@pytest.mark.parametrize("fraction", [0.2, 0.9])
def test_resume_t_end_under_the_limit(fraction, good, tmp_path):
    """An extended resume that runs out of room stops at its last checkpoint; a resume
    without the limit then reaches the uninterrupted extension bit for bit."""
    ref = tmp_path / "ref.h5"
    shutil.copy(good, ref)
    assert _cli(["resume", ref, "--t-end", "6", "-q"], tmp_path)[0] == 0
    full = os.path.getsize(ref)
    run = tmp_path / "run.h5"
    shutil.copy(good, run)
    start = os.path.getsize(run)
    code, err = _cli(["resume", run, "--t-end", "6", "-q"], tmp_path,
                     limit=start + fraction * (full - start))
    _failed_cleanly(code, err, tmp_path)
    assert "no space left" in err[0] and "resumable" in err[0], err
    assert _cli(["resume", run, "--t-end", "6", "-q"], tmp_path)[0] == 0
    with pt.load(run) as a, pt.load(ref) as b:
        assert a.complete
        np.testing.assert_array_equal(a.steps, b.steps)
        np.testing.assert_array_equal(a.frame(-1), b.frame(-1))
        np.testing.assert_array_equal(a.observable("risk")[2], b.observable("risk")[2])


@pytest.mark.parametrize("command,out", [(["animate"], "a.gif"), (["plot"], "p.png"),
                                         (["plot", "--kind", "paths"], "q.png")])
def test_pictures_under_the_limit_leave_nothing(command, out, good, tmp_path):
    """An animation or a plot that runs out of room exits 1 (it was exit 2, as bad
    input) and leaves neither the picture nor its temporary file (a.gif.tmp was left)."""
    argv = [command[0], good, "-o", tmp_path / out] + command[1:]
    assert _cli(argv, tmp_path)[0] == 0
    size = os.path.getsize(tmp_path / out)
    os.remove(tmp_path / out)
    code, err = _cli(argv, tmp_path, limit=0.3 * size)
    _failed_cleanly(code, err, tmp_path)
    assert "File too large" in err[0], err
    assert not (tmp_path / out).exists()


SWEEP = """
[network]
m = 16
[integrator]
dt = 0.05
t_end = 2.0
[record]
kernel_probes = 0
[sweep]
trials = 2
grid = { "init.tau" = [0.1, 1.0] }
"""


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9])
def test_sweep_under_the_limit(fraction, tmp_path):
    """A sweep under a limit at a fraction of one run file's size (run creation, the
    first records, the last records; the index, whose room is checked, fails too): exit
    1 with the failed runs listed and one error line last, no stray file (index.h5.tmp
    and the sweep lock were left, after a crash), and the rerun completes every run,
    equal to an unlimited sweep's, and writes the index."""
    spec = tmp_path / "s.toml"
    spec.write_text(SWEEP)
    ref = tmp_path / "ref"
    assert _cli(["sweep", spec, "-o", ref, "--workers", "1"], tmp_path)[0] == 0
    names = sorted(n for n in os.listdir(ref) if n.startswith("run-"))
    run_size = max(os.path.getsize(ref / n) for n in names)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "particles.cli", "sweep", str(spec), "-o",
                           str(out), "--workers", "1"], env=ENV, capture_output=True,
                          text=True, cwd=tmp_path, timeout=300,
                          preexec_fn=_limited(int(fraction * run_size)))
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert not _stray(tmp_path), _stray(tmp_path)
    assert _cli(["sweep", spec, "-o", out, "--workers", "1"], tmp_path)[0] == 0
    assert (out / "index.h5").exists()
    for name in names:
        with pt.load(out / name) as a, pt.load(ref / name) as b:
            assert a.complete
            np.testing.assert_array_equal(a.frame(-1), b.frame(-1))


@pytest.mark.slow
def test_figure_under_the_limit(tmp_path):
    """A figure whose runs find no room exits 1 with one error line last and no stray
    file; the rerun without the limit resumes the runs and writes the picture and its
    JSON. (It failed: a deconvolution's run file stores its resolved problem, e.g. the
    number of spikes, which the rerun took for "another configuration".)"""
    code, err = _cli(["figure", "sparse-deconvolution", "--quick", "-o", tmp_path / "f"],
                     tmp_path, limit=60_000)
    assert code == 1 and err[-1].startswith("error: "), err
    assert not _stray(tmp_path), _stray(tmp_path)
    code, err = _cli(["figure", "sparse-deconvolution", "--quick", "-o", tmp_path / "f"],
                     tmp_path)
    assert code == 0, err
    assert (tmp_path / "f" / "sparse-deconvolution.png").exists()
    assert (tmp_path / "f" / "sparse-deconvolution.json").exists()
