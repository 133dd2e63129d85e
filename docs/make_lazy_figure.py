"""Make docs/images/lazy-regimes.png: one problem, trained from a small and a large
initial scale, each with its tangent twin (particles.lazy.run_twin).

    python docs/make_lazy_figure.py [OUTDIR]

Runs docs/examples/lazy.toml with init.tau = 0.1 and 2 (about 20 s on 2 cores) into
OUTDIR (default: a temporary directory) and prints the numbers quoted in docs/lazy.md.
"""
import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import particles as pt  # noqa: E402
from particles import lazy
from particles.viz import plotting  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(outdir):
    base = pt.load_toml(os.path.join(HERE, "examples", "lazy.toml"))
    fig = plt.figure(figsize=(13, 8.2), layout="constrained")
    grid = fig.add_gridspec(2, 3)
    paths = []
    for k, tau in enumerate((0.1, 2.0)):
        cfg = base.replace(init=base.init.replace(tau=tau))
        path = os.path.join(outdir, f"lazy-{tau:g}.h5")
        full, lin, gap = lazy.run_twin(cfg, path, overwrite=True)
        paths.append(path)
        with pt.Run(path) as run:
            moved = run.observable("distance")[2][-1]
            drift = run.observable("kernel_drift")[2][-1]
            scale = float(((run.theta0 ** 2).sum(1).mean()) ** 0.5)
            print(f"tau = {tau:g}: test risk {full.observables['test_risk'][-1]:.3g} "
                  f"(tangent twin {lin.observables['test_risk'][-1]:.3g}), moved "
                  f"{moved / scale:.3g} x |theta0|, kernel drift {drift:.3g}, final gap "
                  f"{gap['gap'][-1]:.3g}")
            ax = fig.add_subplot(grid[0, k])
            title = f"tau = {tau:g}: " + ("learns features" if tau < 1 else "lazy")
            plotting.plot_paths(run, ax=ax, title=title)
    runs = [pt.Run(p) for p in paths]
    try:
        axes = [fig.add_subplot(grid[1, j]) for j in range(3)]
        plotting.plot_lazy(runs, axes=axes)
        ax = fig.add_subplot(grid[0, 2])
        plotting.plot_risk(runs, ax=ax)
    finally:
        for r in runs:
            r.close()
    out = os.path.join(HERE, "images", "lazy-regimes.png")
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
