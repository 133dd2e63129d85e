"""The `particles` command: every subcommand in-process, once as a subprocess, and
bad input giving exit status 2, a one-line message and no file."""
import os
import subprocess
import sys

import pytest

import particles as pt
from particles.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL = """
seed = 2
[problem]
d = 2
inputs = "sphere"
[network]
m = 8
[init]
tau = 0.3
symmetric = true
[integrator]
dt = 0.05
t_end = 5.0
[record]
frames = 12
"""


@pytest.fixture
def small(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    return p


def test_run_info_resume_plot_animate_in_process(small, tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert main(["run", str(small), "-o", str(out), "--no-animate"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "complete: risk" in text and "steps/s" in text
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "status      complete" in info and "m = 8 particles" in info
    assert main(["resume", str(out)]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["resume", str(out), "--t-end", "8", "-q"]) == 0
    with pt.load(out) as run:
        assert run.complete and run.times[-1] == pytest.approx(8.0)
    for kind in ("risk", "paths", "histograms", "invariants", "frame", "lazy"):
        png = tmp_path / f"{kind}.png"
        assert main(["plot", str(out), "--kind", kind, "-o", str(png)]) == 0
        assert png.stat().st_size > 1000
    gif = tmp_path / "a.gif"
    assert main(["animate", str(out), "-o", str(gif), "--frames", "5", "-q"]) == 0
    assert gif.exists()


def test_tangent_model_from_the_command_line(small, tmp_path, capsys):
    out = tmp_path / "t.h5"
    assert main(["run", str(small), "-o", str(out), "--no-animate", "-q",
                 "--set", "network.model=tangent", "--set", "network.scaling=ntk"]) == 0
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "scaling=ntk (alpha_eff=2.82843), model=tangent" in info
    assert "gradient descent on R with step 0.05" in info  # dt m / alpha_eff^2 = dt
    assert "lazy        moved" in info
    for units in ("teacher", "neuron", "raw"):
        png = tmp_path / f"paths-{units}.png"
        assert main(["plot", str(out), "--kind", "paths", "--units", units, "-o",
                     str(png)]) == 0
    assert main(["run", str(small), "-o", str(tmp_path / "x.h5"), "--set",
                 "network.model=tangent", "--set", "network.bias=true", "--set",
                 "problem.inputs=gaussian"]) == 2
    assert "network.model" in capsys.readouterr().err


def test_set_overrides_and_default_output(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(small), "--set", "network.m=6", "--set", "seed=3", "-q",
                 "--no-animate"]) == 0
    assert main(["run", str(small), "-q", "--no-animate"]) == 0
    with pt.load("runs/small.h5") as a, pt.load("runs/small-1.h5") as b:
        assert a.m == 6 and a.config.seed == 3 and b.m == 8


BAD = {
    "unknown key": ("[network]\nwidth = 3\n", "unknown key network.width"),
    "wrong type": ("[network]\nm = \"ten\"\n", "network.m must be an integer"),
    "negative m": ("[network]\nm = -4\n", "network.m=-4 is invalid"),
    "dt = 0": ("[integrator]\ndt = 0\n", "integrator.dt=0.0 is invalid"),
    "bad toml": ("[network\n", "is not valid TOML"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_exit_2_nothing_written(case, tmp_path, capsys):
    text, message = BAD[case]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "never.h5"
    assert main(["run", str(cfg), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "never.h5.tmp").exists()


def test_bad_files_exit_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    notrun = tmp_path / "x.h5"
    notrun.write_bytes(b"not hdf5 at all")
    for argv in (["info", str(notrun)], ["resume", str(notrun)], ["animate", str(notrun)],
                 ["info", str(tmp_path / "none.h5")], ["run", "--set", "nonsense"],
                 ["bogus-command"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_existing_output_needs_overwrite(small, tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert main(["run", str(small), "-o", str(out), "-q", "--no-animate"]) == 0
    assert main(["run", str(small), "-o", str(out), "-q"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["run", str(small), "-o", str(out), "-q", "--overwrite", "--no-animate"]) == 0


def test_help_on_every_subcommand(capsys):
    for sub in ("run", "resume", "info", "plot", "animate", "compile"):
        with pytest.raises(SystemExit) as e:
            main([sub, "--help"])
        assert e.value.code == 0
        assert "usage: particles " + sub in capsys.readouterr().out


def test_diverging_run_exits_1(tmp_path, capsys):
    cfg = tmp_path / "div.toml"
    cfg.write_text("[integrator]\ndt = 5.0\nt_end = 5000.0\n[init]\ntau = 3.0\n")
    out = tmp_path / "d.h5"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 1
    assert "diverged" in capsys.readouterr().err
    with pt.load(out) as run:
        assert run.status == "diverged" and len(run) >= 1


def test_real_subprocess_run_with_default_and_plain_progress(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "particles.cli", "run", "--set",
                           "integrator.t_end=50", "-o", str(tmp_path / "d.h5")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "step 1000/1000" in proc.stdout  # plain lines when not a terminal
    assert (tmp_path / "d.gif").exists()
    with pt.load(tmp_path / "d.h5") as run:
        assert run.complete and run.m == 32
        risk = run.observable("risk")[2]
        assert risk[-1] < 0.5 * risk[0]


def test_threads_option_and_compile_notice(small, tmp_path, capsys, monkeypatch):
    from particles.cli import text as cli

    # a notice after 0 s shows what a slow first report prints (compilation)
    monkeypatch.setattr(cli, "COMPILE_NOTICE_AFTER", 0.0)
    out = tmp_path / "t.h5"
    assert main(["run", str(small), "-o", str(out), "--no-animate", "--threads", "1"]) == 0
    assert "compiling the kernels this run needs" in capsys.readouterr().err
    with pt.load(out) as run:
        assert run.config.threads == 1
    assert main(["run", str(small), "-o", str(tmp_path / "u.h5"), "--threads", "-2"]) == 2
    assert "threads=-2 is invalid" in capsys.readouterr().err


def test_progress_bar_on_a_terminal(small, tmp_path):
    """On a terminal the progress is a tqdm bar (stderr is a pseudo-terminal here)."""
    import pty
    import subprocess
    import sys

    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "particles.cli", "run", str(small), "-o",
                           str(tmp_path / "tty.h5"), "--no-animate"], stderr=slave,
                          stdout=subprocess.PIPE, env=env, text=True, timeout=120)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.returncode == 0
    assert "step/s" in b"".join(chunks).decode(errors="replace")  # tqdm's rate unit


def test_exit_status_follows_where_the_error_comes_from(tmp_path, capsys, monkeypatch):
    """A ValueError raised while the run steps is a failed run (1), not bad input (2);
    the same type raised by a bad config stays 2. main() restores warnings.showwarning."""
    import warnings

    from particles.dynamics.integrators import FixedStep

    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    shown = warnings.showwarning

    def boom(self, state, n_steps):
        raise ValueError("deep inside a step")

    monkeypatch.setattr(FixedStep, "advance", boom)
    out = tmp_path / "r.h5"
    assert main(["run", str(cfg), "-o", str(out), "--no-animate", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: run failed at step 0")
    assert "ValueError: deep inside a step" in err[0]
    assert out.exists()  # the step-0 records are kept
    assert main(["run", str(cfg), "-o", str(tmp_path / "x.h5"), "--set", "network.m=0",
                 "-q"]) == 2
    assert warnings.showwarning is shown


def _subparsers():
    from particles.cli.main import _build_parser

    parser = _build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def test_every_help_shows_defaults_and_every_positional_has_help():
    for name, sub in _subparsers().items():
        text = sub.format_help()
        for action in sub._actions:
            if not action.option_strings:  # a positional
                assert action.help, f"{name}: positional {action.dest} has no help"
            elif action.default not in (None, False, "==SUPPRESS==") and action.default != []:
                assert "default" in (action.help or "") or \
                    f"(default: {action.default})" in " ".join(text.split()), \
                    f"{name} {action.option_strings}: default {action.default!r} not shown"
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"


def test_install_hints_name_the_distribution():
    """The package on PyPI is meanfield-particles ('particles' is another project)."""
    import re

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "particles")
    hints = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                text = open(os.path.join(dirpath, f), encoding="utf-8").read()
                hints += re.findall(r"pip install[^\n\"]*", text)
    ours = [h for h in hints if "particles" in h or "[" in h]  # this package or its extras
    assert ours
    for h in ours:
        assert "meanfield-particles" in h or "-e" in h, h


def test_sweep_output_has_a_default_like_run_and_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(
        "[network]\nm = 4\n[integrator]\ndt = 0.05\nt_end = 0.1\n[record]\n"
        "kernel_probes = 0\n[sweep]\ngrid = { \"init.tau\" = [0.5, 1.0] }\n")
    assert main(["sweep", "tiny.toml", "--workers", "1", "-q"]) == 0
    assert (tmp_path / "sweep-tiny" / "summary.csv").exists()
    assert main(["sweep", "tiny.toml", "-o", "", "--workers", "1"]) == 2
    assert "-o/--output=''" in capsys.readouterr().err


def test_plot_sweep_groups_by_the_swept_keys_and_refuses_bad_columns(tmp_path, capsys):
    spec = tmp_path / "two.toml"
    spec.write_text("[network]\nm = 4\n[integrator]\ndt = 0.05\nt_end = 0.1\n[record]\n"
                    "kernel_probes = 0\n[sweep]\ntrials = 2\n"
                    "grid = { \"init.tau\" = [0.5, 1.0], \"network.m\" = [4, 6] }\n")
    out = tmp_path / "sw"
    assert main(["sweep", str(spec), "-o", str(out), "--workers", "1", "-q"]) == 0
    png = tmp_path / "s.png"
    assert main(["plot", str(out), "--kind", "sweep", "--x", "tau", "--y", "final.risk",
                 "-o", str(png)]) == 0
    from particles.experiments.sweep import load

    curves = load(out).curve("tau", "final.risk")
    assert [c["label"] for c in curves] == ["network.m = 4", "network.m = 6"]
    assert all(c["n"] == [2, 2] for c in curves)
    capsys.readouterr()
    assert main(["plot", str(out), "--kind", "sweep", "--x", "tau", "--y", "final.nope",
                 "-o", str(png)]) == 2
    err = capsys.readouterr().err
    assert "no column 'final.nope'" in err and "final.risk" in err


def test_info_is_consistent_after_an_extended_resume(tmp_path, capsys):
    out = tmp_path / "e.h5"
    assert main(["run", "-o", str(out), "-q", "--no-animate", "--set",
                 "integrator.t_end=1", "--set", "record.kernel_probes=0"]) == 0
    assert main(["resume", str(out), "--t-end", "3", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "reached t = 3" in text
    assert "step 60 of 60, t = 3 of 3 (moved by resume --t-end from the configured 1)" in text


def test_a_closed_pipe_ends_quietly(tmp_path, monkeypatch, capsys):
    """`particles info FILE | head -1`: the reader goes away; no error line, no traceback."""
    out = tmp_path / "p.h5"
    pt.run(pt.Config(integrator=pt.IntegratorConfig(t_end=0.1),
                     record=pt.RecordConfig(kernel_probes=0)), out)

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return os.open(os.devnull, os.O_WRONLY)

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["info", str(out)]) == 141
    assert capsys.readouterr().err == ""


def test_divergence_advice_on_every_schedule(tmp_path, capsys):
    """The advice reruns the start with its own record settings: a run recorded
    "every" k steps is advised as well as a log-recorded one."""
    cfg = tmp_path / "div.toml"
    cfg.write_text("[integrator]\ndt = 5.0\nt_end = 5000.0\n[init]\ntau = 3.0\n"
                   "[record]\nschedule = \"every\"\nevery = 10\n")
    assert main(["run", str(cfg), "-o", str(tmp_path / "d.h5"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "integrator.dt" in err, err


def test_compile_fills_the_cache_for_every_target(capsys):
    """`particles compile --all --json` runs every compiled path once (tiny, in memory)
    and reports the seconds of each; a second call finds every kernel cached."""
    import json

    from particles.dynamics.warmup import targets

    assert main(["compile", "--all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in report["targets"]] == targets(everything=True)
    assert len(report["targets"]) >= 14 and targets()[0].startswith("default job")
    assert main(["compile"]) == 0
    captured = capsys.readouterr()
    assert "[1/1] default job" in captured.err and "compiled 1 target(s)" in captured.out


def test_compile_watch_counts_the_kernels_compiled(monkeypatch):
    """While a first run compiles, a line every few seconds counts the kernels done (from
    Numba's compile events), and the count stops when the first step is reported."""
    import numba

    from particles.cli import text as cli

    monkeypatch.setattr(cli, "COMPILE_PROGRESS_EVERY", 3600.0)  # no line from the thread
    watch = cli._CompileWatch()
    watch.start(0.0)
    numba.njit(lambda x: x + 1)(1)  # uncached: compiles here
    numba.njit(lambda x: x * 2.0)(1.0)
    done = watch.done
    assert done == 2
    assert watch.line().startswith("  compiling: 2 kernels done in ")
    watch.stop()
    numba.njit(lambda x: x - 1)(1)
    assert watch.done == done
    watch.stop()  # twice is harmless
