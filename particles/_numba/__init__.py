"""Compiled-code policy (private): the jit decorators and who owns the cores.

:mod:`~particles._numba.jit` holds the decorators, the cache guard and
:class:`~particles._numba.jit.FastCall`; :mod:`~particles._numba.threads` holds the
thread pool's start, its spin policy and the BLAS limits. ``jit`` imports ``threads``,
never the reverse; ``threads`` imports Numba only inside the functions that start it.
"""
