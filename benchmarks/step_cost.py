"""Time per step vs m for the exact and sampled oracles (first version, issue 2).

    python -m benchmarks.step_cost [--quick]

For each (oracle, d, m): median seconds per Euler step (many steps per compiled call,
compilation excluded and timed apart), and the achieved GFLOP/s as a fraction of the
machine's own large-matmul rate measured in the same run, counting 4 n m d flops per
step for the sampled oracle and 4 m^2 d for the exact one (THEORY/DESIGN section 6).
"""
import argparse
import time

import numpy as np

import particles as pt
from particles import problems, risk
from particles.integrators import FixedStep

from .common import machine, markdown, matmul_gflops, median_time, save


def oracle_for(kind, d, m, n, dtype, act="relu", bias=False, rng=None):
    prob = problems.teacher_student(d, 3, activation=act, bias=bias, rng=rng)
    if kind == "exact":
        return risk.exact_oracle(prob, m, activation=act, bias=bias, dtype=dtype)
    X = problems.sample_inputs(rng, n, d)
    return risk.sample_oracle(X, prob.labels(X), m, activation=act, bias=bias, dtype=dtype)


def time_step(oracle, m, d, dtype, rng, steps=None):
    theta = pt.initialize(rng, m, d, tau=0.5, dtype=dtype)
    integ = FixedStep("euler", oracle, 1e-6)
    t = time.perf_counter()
    integ.advance(theta, 1)
    first = time.perf_counter() - t
    nsteps = steps or 8
    per_call = median_time(lambda: integ.advance(theta, nsteps), repeat=5, min_time=0.2)
    return per_call / nsteps, first


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small grid (about a minute)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    peak = {"float64": matmul_gflops(np.float64), "float32": matmul_gflops(np.float32)}
    rows = []
    ms = [10, 100, 1000] if args.quick else [10, 32, 100, 316, 1000, 3162, 10000]
    for kind, d, n in (("sampled", 2, 10000), ("sampled", 100, 10000), ("exact", 2, 0),
                       ("exact", 100, 0)):
        for m in ms:
            if kind == "exact" and m > (1000 if args.quick else 4096):
                continue
            o = oracle_for(kind, d, m, n, np.float64, rng=rng)
            sec, first = time_step(o, m, d, np.float64, rng)
            flops = 4.0 * (n if kind == "sampled" else m) * m * d
            rows.append({"oracle": kind, "d": d, "n": n or "-", "m": m, "ms/step": 1e3 * sec,
                         "steps/s": 1.0 / sec, "GFLOP/s": flops / sec / 1e9,
                         "fraction of matmul": flops / sec / 1e9 / peak["float64"],
                         "first call s": first})
            print(rows[-1], flush=True)
    payload = {"machine": machine(), "matmul_gflops": peak, "rows": rows}
    table = (f"matmul: {peak['float64']:.1f} GFLOP/s (float64), {peak['float32']:.1f} "
             "(float32)\n\n" + markdown(rows, ["oracle", "d", "n", "m", "ms/step", "steps/s",
                                                "GFLOP/s", "fraction of matmul"]))
    print(table)
    print("wrote", *save("step_cost", payload, table))


if __name__ == "__main__":
    main()
