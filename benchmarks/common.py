"""Shared helpers: machine description, matmul ceiling, timing by medians."""
import json
import os
import platform
import statistics
import time

import numpy as np


def machine():
    """CPU, cores, library versions and BLAS of this machine."""
    import numba
    import scipy

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "prefix")}
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001
        blas = []
    return {"cpu": cpu, "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scipy": scipy.__version__, "blas": blas,
            "platform": platform.platform()}


def median_time(fn, repeat=5, min_time=0.2, number=None):
    """Median seconds per call of ``fn()`` over ``repeat`` batches of ``number`` calls
    (``number`` chosen so a batch lasts at least ``min_time``)."""
    fn()
    if number is None:
        number = 1
        while True:
            t = time.perf_counter()
            for _ in range(number):
                fn()
            el = time.perf_counter() - t
            if el >= min_time or number >= 1 << 20:
                break
            number *= 2 if el == 0 else max(2, int(min_time / el) + 1)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return statistics.median(times)


def matmul_gflops(dtype=np.float64, n=2000, repeat=5):
    """The machine's large-matmul rate (GFLOP/s) measured now, with numpy."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    t = median_time(lambda: a @ b, repeat=repeat, min_time=0.3)
    return 2.0 * n ** 3 / t / 1e9


def save(name, payload, table, out_dir=None):
    """Write <out_dir>/<name>.json and <name>.md (default out_dir: benchmarks/results);
    return the paths."""
    out = out_dir or os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(out, exist_ok=True)
    jpath = os.path.join(out, f"{name}.json")
    mpath = os.path.join(out, f"{name}.md")
    with open(jpath, "w") as fh:
        json.dump(payload, fh, indent=1, default=float)
    with open(mpath, "w") as fh:
        fh.write(table + "\n")
    return jpath, mpath


def markdown(rows, columns):
    """A markdown table of dict rows."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = ""
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        body += "| " + " | ".join(cells) + " |\n"
    return head + body
