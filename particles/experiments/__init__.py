"""Many runs at once: sweeps over configuration grids on a process pool or a Dask
cluster (:mod:`~particles.experiments.sweep`) and the talk's figures, one module per
figure (:mod:`~particles.experiments.figures`).
"""
