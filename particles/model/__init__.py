"""The model: problems (input law, target, loss), initial particles, the state of a run,
its random streams and the network in NumPy. No time stepping lives here.

``problems``, ``initial``, ``state``, ``rng`` and ``network`` may use the compiled
network (:mod:`particles.kernels.network`) inside functions, never at import time, so
reading a run file does not load Numba.
"""
