"""The ``particles`` command line.

Exit status: 0 on success, 2 on bad input (one line on stderr, no traceback), 1 on a
failed run (divergence or an unexpected error), 130 on Ctrl-C (the file is flushed
and resumable).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

from .text import _Progress, summary

from ..config.io import DEFAULT_CONFIG


class UsageError(Exception):
    """Bad input: reported in one line, exit status 2."""


class _Formatter(argparse.HelpFormatter):
    """Help with every default shown: "(default: X)" after an option's help, unless the
    help already says it or there is nothing to show (None, False, an empty list)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (default in (None, False, argparse.SUPPRESS) or default == []
                or "default" in text or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _build_parser():
    p = _Parser(prog="particles", description="Two-layer networks as particle clouds: run, "
                "resume, inspect, plot and animate gradient-flow trajectories.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("run", help="run a configuration (or the embedded default)",
                       description="Run CONFIG (TOML; the embedded 2-D teacher-student "
                       "default when omitted) and stream the trajectory into an HDF5 file.")
    r.add_argument("config", nargs="?", help="TOML configuration file (docs/config.md; "
                   "default: the embedded teacher-student job, particles/data/default.toml)")
    r.add_argument("-o", "--output", help="output HDF5 file (default: runs/<name>.h5, "
                   "numbered when it exists)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration value, e.g. --set network.m=64 (repeatable)")
    r.add_argument("--threads", type=int, metavar="N",
                   help="Numba threads (default 0: one for small problems, else the cores "
                   "this process may use); results do not depend on it")
    r.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    r.add_argument("--no-animate", action="store_true", help="do not write the animation")
    r.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    s = sub.add_parser("resume", help="continue an interrupted run",
                       description="Continue FILE from its last checkpoint to its configured "
                       "end (or --t-end); the final state equals an uninterrupted run's.")
    s.add_argument("file", help="the run file (HDF5) to continue")
    s.add_argument("--t-end", type=float, help="new final time (default: the configured "
                   "t_end)")
    s.add_argument("--salvage", action="store_true",
                   help="accept a file cut off at its end (a failed write) when all its "
                   "records up to the last checkpoint read back intact, and continue into "
                   "a new file (-o, default NAME-salvaged.h5)")
    s.add_argument("-o", "--output", help="with --salvage: the new file")
    s.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    po = sub.add_parser("polish", help="minimise from a run's last state to a tiny gradient",
                        description="Start from FILE's last checkpoint and minimise the same "
                        "objective (L-BFGS, or L-BFGS then Newton steps); the polished "
                        "state and its report go to /optimality/polish in FILE (the "
                        "trajectory is untouched).")
    po.add_argument("file", help="the run file (HDF5); the polished state is stored in it")
    po.add_argument("--method", choices=["lbfgs", "newton"], default="newton",
                    help="L-BFGS alone, or L-BFGS then Newton steps (networks; a measure "
                    "on the torus is polished by L-BFGS-B)")
    po.add_argument("--gtol", type=float, default=1e-13,
                    help="target root mean square of the mean-field velocity")
    po.add_argument("--json", action="store_true", help="print one JSON object")

    ce = sub.add_parser("certify", help="optimality certificate and Hessian classification",
                        description="For FILE's polished (else last) state: sup over unit "
                        "(a, b) of |E[(f - y) sigma(a.x + b)]| (0 at a global minimiser over "
                        "measures), the risk decrease one more neuron guarantees, and the "
                        "Hessian's classification; stored in /optimality/certificate.")
    ce.add_argument("file", help="the run file (HDF5); the certificate is stored in it")
    ce.add_argument("--starts", type=int, default=512, help="random directions scanned")
    ce.add_argument("--json", action="store_true", help="print one JSON object")
    ce.add_argument("--grow", metavar="NEW.h5",
                    help="add one neuron at the maximising direction (with its best output "
                    "weight) and continue the run with m + 1 neurons into NEW.h5")
    ce.add_argument("--t-end", type=float, help="with --grow: final time of the new run "
                    "(default: the run's t_end)")

    sw = sub.add_parser("sweep", help="run a sweep over parameters and trials",
                        description="Run every point and trial of SWEEP.toml (a config with "
                        "a [sweep] table: grid, zip, trials, seeds) into DIR: one run file "
                        "each, index.h5, summary.csv and summary.json. Run again, it skips "
                        "complete runs, resumes interrupted ones and retries failed ones.")
    sw.add_argument("sweep", help="TOML file: a configuration with a [sweep] table "
                    "(docs/figures.md, 'Sweeps')")
    sw.add_argument("-o", "--output", metavar="DIR", help="output directory (default: "
                    "sweep-NAME for SWEEP = NAME.toml)")
    _executor_options(sw)
    sw.add_argument("--overwrite", action="store_true",
                    help="replace another sweep's spec in DIR (its run files are kept)")

    from ..experiments.figures import FIGURES

    fg = sub.add_parser("figure", help="reproduce one of the talk's figures",
                        description="Run the sweep behind figure NAME and write NAME.png, "
                        "NAME.json (the numbers behind the plot) and the runs into DIR "
                        "(docs/figures.md).")
    fg.add_argument("name", choices=list(FIGURES), help="the figure (docs/figures.md)")
    fg.add_argument("--quick", action="store_true",
                    help="the reduced protocol (a few minutes on 2 cores)")
    fg.add_argument("-o", "--output", metavar="DIR", default=None,
                    help="output directory (default: figure-NAME[-quick])")
    _executor_options(fg)

    co = sub.add_parser("compile", help="fill the kernel cache ahead of time",
                        description="Compile the Numba kernels of the embedded default job "
                        "(with --all: of every oracle, activation family, precision and "
                        "integrator) into the cache (NUMBA_CACHE_DIR), so that later "
                        "processes start at once, e.g. when building a Docker image or on a "
                        "cluster's login node. Kernels cached already load in well under a "
                        "second.")
    co.add_argument("--all", action="store_true", dest="everything",
                    help="every compiled path, not only the default job's")
    co.add_argument("--json", action="store_true", help="print the seconds per target "
                    "as JSON")

    i = sub.add_parser("info", help="summarise a run file",
                       description="Print the configuration, progress, last risk, completion "
                       "state and size of FILE.")
    i.add_argument("file", help="the run file (HDF5)")
    i.add_argument("--check", action="store_true",
                   help="also read every record back and verify its checksum (exit 2 when "
                   "anything is damaged)")

    pl = sub.add_parser("plot", help="static figures of one or several runs",
                        description="Draw a figure from run files (several files are "
                        "overlaid for the risk, invariants, lazy and free-energy kinds).")
    pl.add_argument("files", nargs="+", help="run files (HDF5), or one sweep directory "
                    "with --kind sweep")
    pl.add_argument("-o", "--output", help="output image (default: FILE-KIND.png)")
    pl.add_argument("--kind", default="risk",
                    choices=["risk", "paths", "histograms", "invariants", "frame", "lazy",
                             "free-energy", "deconvolution", "sweep"],
                    help="risk: risk vs time; paths: particle paths; histograms: c and |a|; "
                    "invariants: conservation-law drift; frame: the animation's last frame; "
                    "lazy: distance from the start, tangent-kernel drift and the gap to a "
                    "tangent twin (particles.lazy.run_twin) against time; free-energy: the "
                    "free energy, objective and entropy of runs at a temperature > 0; "
                    "deconvolution: the first variation V(p) against +-reg with the particles "
                    "and the true spikes (a deconvolution run); sweep: FILE is a "
                    "sweep directory, --y against --x, mean and spread over trials")
    pl.add_argument("--x", help="sweep: column on the x axis (e.g. tau)")
    pl.add_argument("--y", help="sweep: column on the y axis (e.g. final.test_risk)")
    pl.add_argument("--by", help="sweep: one curve per value of this column")
    pl.add_argument("--units", default="teacher", choices=["teacher", "neuron", "raw"],
                    help="paths and frame: particles drawn at k |c_i| a_i with k = "
                    "alpha_eff/m0 (teacher: a teacher neuron's share of particles at one "
                    "point lies on its star), alpha_eff/m (neuron: each neuron's output "
                    "weight) or 1 (raw)")
    pl.add_argument("--dpi", type=int, default=120, help="image resolution")

    a = sub.add_parser("animate", help="animate the particles of a run",
                       description="Animate FILE into a GIF (always) or MP4 (when ffmpeg "
                       "exists), streaming frames from the file.")
    a.add_argument("file", help="the run file (HDF5)")
    a.add_argument("-o", "--output", help="output .gif or .mp4 (default: FILE.gif)")
    a.add_argument("--frames", type=int, default=60, help="number of frames (log-spaced)")
    a.add_argument("--fps", type=int, default=12, help="frames per second")
    a.add_argument("--dpi", type=int, default=80, help="image resolution")
    a.add_argument("--size", type=float, default=5.0, help="figure size in inches")
    a.add_argument("--trail", type=int, default=8, help="trail length in frames")
    a.add_argument("--projection", default="auto",
                   help="auto, teacher, pca or coords:I,J (for d > 2)")
    a.add_argument("--no-size-by-c", action="store_true", help="constant marker size")
    a.add_argument("--units", default="teacher", choices=["teacher", "neuron", "raw"],
                   help="scale of the particles against the teacher (see plot --units)")
    a.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return p


def _workers(text):
    """argparse type of --workers: an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: an integer >= 1")
    return n


def _executor_options(parser):
    """--workers, --dask and -q of the commands that run sweeps."""
    parser.add_argument("--workers", type=_workers, default=None,
                        help="processes (default: the cores this process may use; 1: serial)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a Dask cluster: a scheduler address, or 'local' for a "
                        "LocalCluster of --workers processes (needs the dask extra: "
                        "pip install 'meanfield-particles[dask]')")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def _say(quiet, *args):
    if not quiet:
        print(*args, flush=True)


class _SigintFlag:
    """While active, Ctrl-C sets a flag that the run polls between compiled chunks
    (a second Ctrl-C interrupts at once)."""

    def __init__(self):
        self.hit = False
        self.old = None

    def __enter__(self):
        import signal

        def handler(signum, frame):
            if self.hit:
                raise KeyboardInterrupt
            self.hit = True

        self.old = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        import signal

        signal.signal(signal.SIGINT, self.old)

    def __call__(self):
        return self.hit


def _unique_path(path):
    if not os.path.exists(path):
        return path
    root, ext = os.path.splitext(path)
    k = 1
    while os.path.exists(f"{root}-{k}{ext}"):
        k += 1
    return f"{root}-{k}{ext}"


def _load_config(args):
    from ..config import ConfigError, from_dict, read_toml, set_value

    data = read_toml(args.config or DEFAULT_CONFIG)
    for assignment in args.set:
        set_value(data, assignment)
    if args.threads is not None:
        data["threads"] = args.threads
    try:
        return from_dict(data)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def cmd_run(args):
    from ..dynamics.runner import run
    from ..dynamics.simulation import Simulation

    config = _load_config(args)
    name = os.path.splitext(os.path.basename(args.config))[0] if args.config else "default"
    if args.output:
        out = args.output
        if os.path.exists(out) and not args.overwrite:
            raise UsageError(f"output file {out!r} exists; use --overwrite or another -o")
    elif config.output.path:
        out = config.output.path
        if os.path.exists(out) and not args.overwrite:
            raise UsageError(f"output file {out!r} exists; use --overwrite or another -o")
    else:
        out = _unique_path(os.path.join("runs", f"{name}.h5"))
    if os.path.isdir(out):
        raise UsageError(f"output {out!r} is a directory; allowed: a file path")
    progress = _Progress(config.integrator.n_steps, args.quiet)
    try:
        sim = Simulation(config)  # validates everything (data files, init arrays) first
    except BaseException:
        progress.close()
        raise
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)  # only once the run is known to be valid
    if not os.access(out_dir, os.W_OK):
        raise UsageError(f"output directory {out_dir!r} is not writable")
    t0 = time.perf_counter()
    try:
        with _SigintFlag() as flag:
            res = run(simulation=sim, path=out, progress=progress, overwrite=True,
                      interrupted=flag)
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted; {out} is resumable: particles resume {out}", file=sys.stderr)
        return 130
    finally:
        progress.close()
    if res.status == "interrupted":
        print(f"interrupted at t = {res.time:.6g}; {out} is resumable: particles resume {out}",
              file=sys.stderr)
        return 130
    wall = time.perf_counter() - t0
    risk = res.observables.get("risk")
    last = f"{risk[-1]:.4e}" if risk is not None and len(risk) else "n/a"
    _say(args.quiet, f"wrote {out}")
    _say(args.quiet, f"{res.status}: risk {last} at t = {res.time:.6g} after {res.step} steps "
         f"in {wall:.2f} s ({res.step / max(wall, 1e-9):.0f} steps/s)")
    if res.status == "diverged":
        print(f"error: {res.message}", file=sys.stderr)
        return 1
    if config.output.animate and not args.no_animate:
        from ..viz.animation import animate

        gif = os.path.splitext(out)[0] + ".gif"
        path = animate(out, gif)
        _say(args.quiet, f"wrote {path}")
    return 0


def cmd_resume(args):
    from ..dynamics.runner import resume

    from ..io import Run

    if args.output and not args.salvage:
        raise UsageError("-o goes with --salvage (a plain resume continues the file itself)")
    from ..io.verify import NotARunError

    try:
        with Run(args.file, allow_truncated=args.salvage) as run:
            ck = run.state
            n_steps = run.n_steps
    except NotARunError:
        # a killed run whose records the kill damaged may still restart from its
        # header; anything else fails again here with the message to report
        with Run(args.file, allow_truncated=args.salvage, records=False) as run:
            ck, n_steps = {}, run.n_steps
    _check_t_end(args.t_end)
    progress = _Progress(n_steps, args.quiet, start=ck.get("step", 0))
    try:
        with _SigintFlag() as flag:
            res = resume(args.file, t_end=args.t_end, progress=progress, interrupted=flag,
                         salvage=args.salvage, output=args.output)
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted; {args.file} is resumable", file=sys.stderr)
        return 130
    finally:
        progress.close()
    if res is None:
        _say(args.quiet, f"{args.file} is already {ck.get('status', 'complete')} "
             f"(t = {ck.get('time', 0):.6g}); nothing to do")
        return 0
    if res.status == "interrupted":
        print(f"interrupted at t = {res.time:.6g}; {args.file} is resumable", file=sys.stderr)
        return 130
    risk = res.observables.get("risk")
    last = f"{risk[-1]:.4e}" if risk is not None and len(risk) else "n/a"
    _say(args.quiet, f"{res.status}: risk {last} at t = {res.time:.6g} after {res.step} steps")
    return 1 if res.status == "diverged" else 0


def cmd_polish(args):
    import json

    from ..analysis.optimality import polish_file

    if not (math.isfinite(args.gtol) and args.gtol > 0):
        raise UsageError(f"--gtol={args.gtol} is invalid; allowed: a finite number > 0")
    if not args.json:  # minutes on large runs: say what is going on
        _note(f"polishing {args.file} ({args.method}, target gradient {args.gtol:g}) ...")
    res = polish_file(args.file, method=args.method, gtol=args.gtol)
    if args.json:
        print(json.dumps(res.report()))
    else:
        print(f"polished {args.file} with {res.method}: gradient {res.grad_norm0:.3g} -> "
              f"{res.grad_norm:.3g} in {res.iterations} iterations; risk {res.risk:.6g}")
    return 0


def cmd_certify(args):
    import json

    from ..analysis.optimality import certify_file

    if not 1 <= args.starts <= 10 ** 7:
        raise UsageError(f"--starts={args.starts} is invalid; allowed: an integer from 1 "
                         "to 10^7")
    if args.grow:
        if os.path.exists(args.grow):
            raise UsageError(f"output file {args.grow!r} exists; choose another path")
        _check_t_end(args.t_end)
    if not args.json:
        _note(f"certifying {args.file} (scan of {args.starts} directions, Hessian) ...")
    rep = certify_file(args.file, starts=args.starts, grow_into=args.grow, t_end=args.t_end)
    if args.json:
        print(json.dumps(rep))
    elif rep.get("kind") == "deconvolution":
        print(f"certificate of the {rep['state']} state: sup |V| = {rep['value']:.6g} at "
              f"p = {rep['position']:.6g} against {'reg' if rep['reg'] > 0 else 'tol sup|V0|'}"
              f" = {rep['threshold'] / (1 + rep['tol']) if rep['reg'] > 0 else rep['threshold']:.6g} "
              f"(ratio {rep['ratio']:.6g}, tolerance {rep['tol']:g}): {rep['classification']}; "
              f"objective {rep['objective']:.10g}, support gap {rep['support_gap']:.3g}")
    else:
        print(f"certificate of the {rep['state']} state: sup |E[(f - y) sigma]| = "
              f"{rep['value']:.3g}; one more neuron lowers the risk by at least "
              f"{rep['decrease_bound']:.3g}; Hessian: {rep['classification']} "
              f"(smallest eigenvalue {rep['min_eig']:.3g}, {rep['zero_modes']} zero modes "
              "removed)")
        if "grown" in rep:
            g = rep["grown"]
            print(f"grew one neuron and continued into {g['file']}: {g['status']}, risk "
                  f"{g['risk']:.6g}")
    return 0


def cmd_compile(args):
    import json

    from ..dynamics.warmup import compile_kernels, targets

    from .text import COMPILE_SECONDS

    n = len(targets(args.everything))
    print(f"compiling the kernels of {n} target(s) into the cache; a target not cached "
          f"yet takes about {COMPILE_SECONDS} s on 2 cores", file=sys.stderr, flush=True)

    def progress(k, total, name, seconds):
        print(f"[{k}/{total}] {name}: {seconds:.1f} s", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    done = compile_kernels(args.everything, progress=progress)
    total = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"targets": done, "seconds": total}, indent=1))
    else:
        print(f"compiled {len(done)} target(s) in {total:.1f} s")
    return 0


def cmd_info(args):
    from ..io import load

    with load(args.file) as run:
        print(summary(run))
        if args.check:
            c = run.check()
            print(f"check       intact: {c['frames']} frames, {c['observables']} observables, "
                  f"{c['datasets']} datasets read back ({c['checksummed']} with checksums)")
    return 0


def _check_t_end(t_end):
    if t_end is not None and not (math.isfinite(t_end) and t_end > 0):
        raise UsageError(f"--t-end={t_end} is invalid; allowed: a finite number > 0")


def _check_dpi(dpi, size=5.0):
    # a figure of size x size inches must stay a sane bitmap (at most 16k pixels a side)
    if not (math.isfinite(dpi) and 10 <= dpi <= 2000):
        raise UsageError(f"--dpi={dpi} is invalid; allowed: 10 to 2000")
    if not (math.isfinite(size) and 0.5 <= size <= 100):
        raise UsageError(f"--size={size} is invalid; allowed: 0.5 to 100 (inches)")
    if dpi * size > 16384:
        raise UsageError(f"--dpi={dpi} with --size={size} makes a {dpi * size:.0f}-pixel "
                         "side; allowed: at most 16384 pixels (lower --dpi or --size)")


def cmd_plot(args):
    from ..viz import plotting

    _check_dpi(args.dpi)

    if args.kind == "sweep":
        if len(args.files) != 1 or not args.x or not args.y:
            raise UsageError("--kind sweep takes one sweep directory, --x and --y")
        from ..experiments.sweep import load

        out = args.output or os.path.join(args.files[0], f"sweep-{args.y}-{args.x}.png")
        plotting.check_output(out)
        fig = plotting.plot_sweep(load(args.files[0]), args.x, args.y, by=args.by)
        _save(fig, out, args.dpi)
        print(f"wrote {out}")
        return 0
    out = args.output or os.path.splitext(args.files[0])[0] + f"-{args.kind}.png"
    plotting.check_output(out)
    if args.kind == "frame":
        from ..viz.animation import snapshot

        if len(args.files) != 1:
            raise UsageError(f"--kind frame takes one file; got {len(args.files)}")
        print(f"wrote {snapshot(args.files[0], out, dpi=args.dpi, units=args.units)}")
        return 0
    from ..viz import measure

    fig = measure.plot_files(args.files, args.kind)  # measures on the torus first
    if fig is None:
        fig = plotting.plot_files(args.files, kind=args.kind, units=args.units)
    _save(fig, out, args.dpi)
    print(f"wrote {out}")
    return 0


def _save(fig, out, dpi):
    """Write a figure and release it (a session that plots many files keeps no figure
    open)."""
    import matplotlib.pyplot as plt

    from ..io.atomic import replaced

    try:
        with replaced(out, keep_extension=True) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)


def cmd_animate(args):
    _check_dpi(args.dpi, args.size)
    from ..viz.animation import animate

    out = args.output or os.path.splitext(args.file)[0] + ".gif"
    path = animate(args.file, out, frames=args.frames, fps=args.fps, dpi=args.dpi,
                   size=args.size, trail=args.trail, projection=args.projection,
                   size_by_c=not args.no_size_by_c, warn=None if args.quiet else _warn,
                   units=args.units, progress=None if args.quiet else _counter("frame"))
    _say(args.quiet, f"wrote {path}")
    return 0


def _note(msg):
    """A line on what a long command is doing, on an interactive terminal only (errors
    stay the one line on stderr that scripts read)."""
    if sys.stderr.isatty():
        print(msg, file=sys.stderr, flush=True)


def _counter(what):
    """Progress of a long command on stderr: a counter redrawn in place on an interactive
    terminal; nothing otherwise (logs and scripts read one line per error)."""
    tty = sys.stderr.isatty()

    def show(done, total):
        if tty:
            print(f"\r{what} {done}/{total}", end="\n" if done == total else "",
                  file=sys.stderr, flush=True)

    return show


def _warn(msg):
    print(f"warning: {msg}", file=sys.stderr)


def cmd_sweep(args):
    from ..experiments.sweep import load_sweep, run_sweep

    if args.output is None:  # the one -o rule: every command has a default place
        args.output = "sweep-" + os.path.splitext(os.path.basename(args.sweep))[0]
    sweep = load_sweep(args.sweep)
    table = run_sweep(sweep, args.output, workers=args.workers, dask=args.dask,
                      progress=False if args.quiet else None, overwrite=args.overwrite)
    failed = table.failed()
    counts = {}
    for r in table.rows:
        counts[r.get("status", "?")] = counts.get(r.get("status", "?"), 0) + 1
    _say(args.quiet, f"wrote {len(table)} runs into {args.output} ("
         + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + "); table: "
         + os.path.join(args.output, "summary.csv"))
    for r in failed:
        print(f"failed: {os.path.basename(r['path'])}: {r.get('error', '')}", file=sys.stderr)
    return 1 if failed else 0


def cmd_figure(args):
    from ..experiments.figures import make

    data = make(args.name, args.output, quick=args.quick, workers=args.workers,
                dask=args.dask, progress=False if args.quiet else None,
                log=(lambda *a: None) if args.quiet else print)
    return 0 if all(c["passed"] for c in data["checks"]) else 1


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "info": cmd_info, "plot": cmd_plot,
            "animate": cmd_animate, "polish": cmd_polish, "certify": cmd_certify,
            "sweep": cmd_sweep, "figure": cmd_figure, "compile": cmd_compile}


def main(argv=None):
    """Entry point; returns the exit status (``particles`` calls ``sys.exit`` on it).

    Exit status by where an error comes from: 2 for bad input (arguments, configs,
    files; anything raised before a run starts stepping), 1 for a failed run (an error
    inside the stepping loop, :class:`particles._checks.RunError`, or a full disk),
    130 for an interrupt.
    """
    import warnings

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    shown, warnings.showwarning = warnings.showwarning, one_line
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up (imports, parser): no traceback
        return 130
    finally:
        warnings.showwarning = shown  # in-process callers get theirs back


def _main(argv):
    from .._checks import RunError
    from ..config import ConfigError
    from ..io import NotARunError
    from ..io.writer import StoreWriteError

    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.version:
            from .._version import __version__

            print(f"particles {__version__}")
            return 0
        if not args.command:
            parser.print_help()
            return 2
        for key in ("output", "grow"):  # an empty path is a mistake, not "the default"
            if getattr(args, key, None) == "":
                flag = "-o/--output" if key == "output" else "--grow"
                raise UsageError(f"{flag}='' is empty; allowed: a path (or leave the option "
                                 "out for the default)")
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, NotARunError, FileNotFoundError, FileExistsError,
            IsADirectoryError, ValueError, TypeError) as exc:
        msg = _first_line(exc)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except RunError as exc:  # raised while stepping, whatever the original type
        print(f"error: run failed {exc}", file=sys.stderr)
        return 1
    except StoreWriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not exc.clean:
            # HDF5 still holds the file it could not write and would crash at exit
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1
    except BrokenPipeError:  # the reader went away (`particles info x.h5 | head`): quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 141  # as a process killed by SIGPIPE
    except OSError as exc:  # reading a damaged file (HDF5 checksum or structure errors)
        from ..io.atomic import no_room

        if no_room(exc):  # a write that found no room is a failure, not bad input
            print(f"error: writing failed: {_first_line(exc)} (no space left or the "
                  "file-size limit reached)", file=sys.stderr)
            return 1
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a failed run: one line, status 1
        print(f"error: run failed: {type(exc).__name__}: {_first_line(exc)}",
              file=sys.stderr)
        return 1


def _first_line(exc):
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def entry():
    sys.exit(main())


if __name__ == "__main__":
    entry()
