"""Mathematics after the fact, on states and run files: the lazy regime
(:mod:`~particles.analysis.lazy`), optimality (polish, Hessians, certificates:
:mod:`~particles.analysis.optimality`), the convex random-features baseline
(:mod:`~particles.analysis.convex`) and distances between networks and measures
(:mod:`~particles.analysis.distances`). Importing this package imports none of them.
"""
