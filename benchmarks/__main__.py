"""python -m benchmarks {cost,convergence,startup,store,polish,lazy,langevin,deconvolution}
[--quick]"""
import argparse
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks",
                                 description="particles benchmarks: cost per step against "
                                 "the BLAS ceiling and peers; convergence as m grows.")
    ap.add_argument("what", nargs="?", default="cost",
                    choices=["cost", "convergence", "startup", "store", "polish", "lazy",
                             "langevin", "deconvolution"])
    ap.add_argument("--quick", action="store_true",
                    help="a small grid that finishes in a few minutes on 2 cores")
    ap.add_argument("--out", help="output directory (default: benchmarks/results)")
    args = ap.parse_args(argv)
    if args.what == "cost":
        from .suite import cost

        cost(quick=args.quick, out_dir=args.out)
    elif args.what == "convergence":
        from .convergence import convergence

        convergence(quick=args.quick, out_dir=args.out)
    elif args.what == "polish":
        from .polish import polish_benchmark

        polish_benchmark(quick=args.quick)
    elif args.what == "lazy":
        from .lazy import lazy_benchmark

        lazy_benchmark(quick=args.quick, out_dir=args.out)
    elif args.what == "langevin":
        from .langevin import langevin_benchmark

        langevin_benchmark(quick=args.quick, out_dir=args.out)
    elif args.what == "deconvolution":
        from .deconvolution import deconvolution_benchmark

        deconvolution_benchmark(quick=args.quick, out_dir=args.out)
    elif args.what == "startup":
        from .startup import startup

        startup(quick=args.quick, out_dir=args.out)
    else:
        from .store_overhead import main as store_main

        store_main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
