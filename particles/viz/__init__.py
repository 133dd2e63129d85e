"""Views of runs: static plots (:mod:`~particles.viz.plotting`) and animations
(:mod:`~particles.viz.animation`). They read run files (or results in memory) through
:class:`particles.io.Run`, never simulator internals. Importing this package loads
nothing (matplotlib loads with the modules).
"""
