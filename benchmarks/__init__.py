"""Benchmarks of particles: cost per step against the BLAS ceiling and peers, store
overhead, and convergence as m grows. Run ``python -m benchmarks --help``."""
