"""One compiled entry point for every oracle.

The integrators' compiled loops call :func:`velocity` with an ``OracleData`` bundle
(see :mod:`particles.risk`) whose ``kind`` selects the kernel. All three kernels are
compiled into one function, so the loops take no function arguments: Numba caches
functions with first-class function arguments unreliably across processes (a cache
index entry can hold a dead reference to another dispatcher), while this form
caches like any other kernel.
"""
from .._jit import jit
from .exact import exact_velocity
from .sampled import online_velocity, sampled_velocity

EXACT, SAMPLED, ONLINE = 0, 1, 2


@jit
def velocity(theta, data, out):
    """Risk at ``theta`` and the velocity into ``out`` for the oracle in ``data``."""
    if data.kind == EXACT:
        return exact_velocity(theta, data.ep, data.ew, out)
    if data.kind == SAMPLED:
        return sampled_velocity(theta, data.sp, data.sw, out)
    return online_velocity(theta, data.op, data.sw, out)
