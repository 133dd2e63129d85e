"""Store overhead: a run with log-spaced recording into HDF5 vs the same run with no
recording (only the final state), medians over repeats; plus the file size.

    python -m benchmarks.store_overhead [--repeat 5]
"""
import argparse
import os
import statistics
import tempfile
import time

import particles as pt
from particles.cli import DEFAULT_CONFIG

from .common import machine, markdown, save


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    default = pt.load_toml(DEFAULT_CONFIG)
    sampled = pt.Config(problem=pt.ProblemConfig(d=20), network=pt.NetworkConfig(m=256),
                        oracle=pt.OracleConfig(kind="sampled", n=2000),
                        integrator=pt.IntegratorConfig(dt=0.01, t_end=20.0), seed=2)
    cases = [("default (m=32, d=2, 20000 Euler steps, exact oracle)", default),
             ("m=256, d=20, sampled n=2000, 2000 Euler steps", sampled)]
    rows = []
    tmp = tempfile.mkdtemp()
    timings = {}
    for label, base in cases:
        bare = base.replace(record=base.record.replace(schedule="times",
                                                       times=(base.integrator.t_end,)))
        pt.simulate(bare)  # warm-up: compile
        t_bare, t_rec, size = [], [], 0
        for k in range(args.repeat):
            t = time.perf_counter()
            pt.Simulation(bare).run(keep=False)
            t_bare.append(time.perf_counter() - t)
            path = os.path.join(tmp, f"r{k}.h5")
            if os.path.exists(path):
                os.remove(path)
            t = time.perf_counter()
            pt.run(base, path)
            t_rec.append(time.perf_counter() - t)
            size = os.path.getsize(path)
        with pt.load(path) as run:
            frames, obs = len(run), len(run.observable("risk")[0])
        mb, mr = statistics.median(t_bare), statistics.median(t_rec)
        rows.append({"run": label, "no recording s": mb, "log-spaced HDF5 s": mr,
                     "overhead %": 100 * (mr / mb - 1), "frames": frames,
                     "observable records": obs, "file MB": size / 1e6})
        timings[label] = {"bare_s": t_bare, "recorded_s": t_rec}
    table = markdown(rows, list(rows[0]))
    print(table)
    print("wrote", *save("store_overhead", {"machine": machine(), "rows": rows,
                                             "timings": timings}, table))


if __name__ == "__main__":
    main()
