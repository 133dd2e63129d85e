"""Startup and main-command benchmark: the first run, the warm run, the animation,
and threads under contention.

    python -m benchmarks startup [--quick]

* first run: ``particles run`` on the embedded default in a fresh process with an
  empty Numba cache (compilation included), wall seconds of the whole command
  (simulation, HDF5 file and GIF); target under 20 s on the 2-core machine;
* first use of every other compiled path (full mode only): ``particles compile --all
  --json`` on that cache, the seconds of each target in its order (an oracle,
  activation family, precision or integrator not used before); target <= 30 s each;
* warm run: the same command once the cache is filled (median of repeats); target
  under 3 s;
* animation: :func:`particles.viz.animation.animate` against the previous code path
  measured in the same process on the same file (matplotlib's ``PillowWriter``
  grabbing a full redraw of the same scene per frame); target at least 5x faster;
* contention: seconds per Euler step with 1 thread, with 2 threads and with the
  default thread choice while another process keeps one core busy, in fresh
  processes; target: the default never slower than 1.2x the 1-thread time.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .common import machine, markdown, save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONTENTION = r"""
import json, sys, time
import numpy as np
import particles as pt
from particles._numba.threads import default_threads, pool_owner

kind, d, m, n = {case!r}
rng = np.random.default_rng(0)
prob = pt.teacher_student(d, 3, rng=rng)
if kind == "exact":
    o = pt.exact_oracle(prob, m)
else:
    X = pt.sample_inputs(rng, n, d)
    o = pt.sample_oracle(X, prob.labels(X), m)
theta = pt.initialize(rng, m, d)
out = {{"default_threads": default_threads(o)}}
for label, threads in (("1", 1), ("2", 2), ("default", default_threads(o))):
    integ = pt.FixedStep("euler", o, 1e-4)
    st = pt.State(theta.copy())
    with pool_owner(threads):
        integ.advance(st, 3)
        steps = 1
        while True:
            t = time.perf_counter(); integ.advance(st, steps); el = time.perf_counter() - t
            if el > 0.05:
                break
            steps *= 2
        times = []
        for _ in range(7):
            t = time.perf_counter(); integ.advance(st, steps)
            times.append((time.perf_counter() - t) / steps)
    out[label] = float(np.median(times))
print(json.dumps(out))
"""

BUSY = "while True:\n    pass\n"


def _env(cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, MPLBACKEND="Agg")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _command(args, cwd, env):
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "particles.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"particles {' '.join(args)} failed: {proc.stderr.strip()}")
    return wall


def baseline_animate(path, out, frames=60, fps=12, dpi=80, size=5.0, trail=8):
    """The previous animation path: matplotlib's PillowWriter, a full redraw per frame."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import animation as manim

    from particles.viz.animation import Scene
    from particles.io import Run
    from particles.viz.plotting import frame_indices

    with Run(path) as run:
        idx = frame_indices(run.times[:len(run)], frames)
        scene = Scene(run, idx, size=size, dpi=dpi, trail=trail)
        writer = manim.PillowWriter(fps=fps)
        with writer.saving(scene.fig, out, dpi):
            for k in idx:
                scene.draw(k)
                writer.grab_frame()
        plt.close(scene.fig)
    return out


def startup(quick=False, out_dir=None, log=print):
    """Run the benchmark; write startup[-quick].json/.md; return the payload."""
    from particles.viz.animation import animate

    work = tempfile.mkdtemp(prefix="particles-startup-")
    try:
        cache = os.path.join(work, "numba-cache")
        env = _env(cache)
        first = _command(["run", "-o", "first.h5", "-q"], work, env)
        log(f"first run (empty cache): {first:.2f} s")
        first_use = []
        if not quick:  # every other compiled path, in order, after the default job's
            proc = subprocess.run([sys.executable, "-m", "particles.cli", "compile", "--all",
                                   "--json"], cwd=work, env=env, capture_output=True,
                                  text=True, check=True)
            first_use = json.loads(proc.stdout)["targets"][1:]
            for row in first_use:
                log(f"first use: {row['name']}: {row['seconds']:.1f} s")
        warm = [_command(["run", "-o", "warm.h5", "--overwrite", "-q"], work, env)
                for _ in range(2 if quick else 5)]
        warm_sim = [_command(["run", "-o", "warm.h5", "--overwrite", "-q", "--no-animate"],
                             work, env) for _ in range(2 if quick else 5)]
        log(f"warm run: {statistics.median(warm):.2f} s (without the GIF "
            f"{statistics.median(warm_sim):.2f} s)")
        run_file = os.path.join(work, "warm.h5")
        reps = 2 if quick else 5
        new, old = [], []
        for _ in range(reps):  # interleaved, so drift hits both alike
            t = time.perf_counter()
            animate(run_file, os.path.join(work, "new.gif"))
            new.append(time.perf_counter() - t)
            t = time.perf_counter()
            baseline_animate(run_file, os.path.join(work, "old.gif"))
            old.append(time.perf_counter() - t)
        anim_new, anim_old = statistics.median(new), statistics.median(old)
        log(f"animation: {anim_new:.2f} s vs {anim_old:.2f} s before "
            f"({anim_old / anim_new:.1f}x)")
        cases = [("exact", 2, 32, 0), ("exact", 2, 256, 0), ("exact", 20, 512, 0),
                 ("sampled", 2, 300, 1000), ("sampled", 10, 100, 3000)]
        if quick:
            cases = cases[:1] + cases[2:3] + cases[4:]
        rows = []
        for case in cases:
            for busy in (False, True):
                competitor = (subprocess.Popen([sys.executable, "-c", BUSY])
                              if busy else None)
                try:
                    proc = subprocess.run([sys.executable, "-c", CONTENTION.format(case=case)],
                                          env=env, capture_output=True, text=True, check=True)
                finally:
                    if competitor is not None:
                        competitor.kill()
                        competitor.wait()
                r = json.loads(proc.stdout)
                row = {"oracle": case[0], "d": case[1], "m": case[2], "n": case[3],
                       "busy core": busy, "default threads": r["default_threads"],
                       "1 thread us": r["1"] * 1e6, "2 threads us": r["2"] * 1e6,
                       "default us": r["default"] * 1e6,
                       "2 threads / 1": r["2"] / r["1"], "default / 1": r["default"] / r["1"]}
                rows.append(row)
                log(f"{row['oracle']} d={row['d']} m={row['m']} busy={busy}: 2/1 = "
                    f"{row['2 threads / 1']:.2f}, default/1 = {row['default / 1']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    busy_rows = [r for r in rows if r["busy core"]]
    targets = [
        {"target": "first run with an empty cache < 20 s", "value": first, "met": first < 20},
    ]
    if first_use:
        worst = max(first_use, key=lambda r: r["seconds"])
        targets.append({"target": f"first use of any other path <= 30 s (worst: "
                        f"{worst['name']})", "value": worst["seconds"],
                        "met": worst["seconds"] <= 30})
    targets += [
        {"target": "warm main command (run + GIF) < 3 s", "value": statistics.median(warm),
         "met": statistics.median(warm) < 3},
        {"target": "animation >= 5x the previous path", "value": anim_old / anim_new,
         "met": anim_old / anim_new >= 5},
        {"target": "default threads <= 1.2x one thread next to a busy process",
         "value": max(r["default / 1"] for r in busy_rows),
         "met": all(r["default / 1"] <= 1.2 for r in busy_rows)},
    ]
    payload = {"machine": machine(), "quick": quick, "first_run_s": first,
               "first_use_s": first_use,
               "warm_run_s": warm, "warm_run_no_gif_s": warm_sim,
               "animation_s": {"new": new, "previous": old,
                               "speedup": anim_old / anim_new},
               "contention": rows, "targets": targets}
    table = ("## Startup\n\n" + markdown(
        [{"what": "first `particles run` (empty Numba cache)", "seconds": first},
         {"what": "warm `particles run` (run + HDF5 + GIF), median", "seconds":
          statistics.median(warm)},
         {"what": "warm `particles run --no-animate`, median", "seconds":
          statistics.median(warm_sim)},
         {"what": "animation (55 frames), new", "seconds": anim_new},
         {"what": "animation, previous path (full redraw + PillowWriter)", "seconds": anim_old}],
        ["what", "seconds"])
        + ("\n## First use of each other compiled path (`particles compile --all`, in "
           "this order, after the default job)\n\n" + markdown(first_use, ["name", "seconds"])
           if first_use else "")
        + "\n## Threads next to a busy process (seconds per Euler step)\n\n"
        + markdown(rows, ["oracle", "d", "m", "n", "busy core", "default threads",
                          "1 thread us", "2 threads us", "default us", "2 threads / 1",
                          "default / 1"])
        + "\n## Targets\n\n" + markdown(targets, ["target", "value", "met"]))
    name = "startup-quick" if quick else "startup"
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        paths = []
        for ext, text in (("json", json.dumps(payload, indent=1, default=float)),
                          ("md", table + "\n")):
            p = os.path.join(out_dir, f"{name}.{ext}")
            with open(p, "w") as fh:
                fh.write(text)
            paths.append(p)
    else:
        paths = save(name, payload, table)
    log("wrote " + " ".join(paths))
    return payload
