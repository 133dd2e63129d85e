"""Compile-time dispatch from an oracle's data type to its compiled velocity.

Every oracle hands the compiled loops one small named tuple of its own type (its
constants and work buffers). :func:`velocity` is resolved while Numba types the
caller: the loop compiled for ``ExactData`` contains the exact kernel only, the loop
compiled for ``SampledData`` the sampled kernel only, so a run compiles exactly the
oracle it uses and adding an oracle never touches the loops. An oracle module
registers its type once::

    register(ExactData, exact_entry)   # exact_entry(theta, data, out) -> risk

Loops that take the oracle's data as an argument cache like any other kernel
(first-class function arguments do not cache reliably across processes). Numba keeps
one cache index per function, holding the types of every signature it compiled; an
index naming a class that another process cannot import (an oracle defined in a
user's script) would make that process fail to load the cache. So the cached loops
only ever see the package's own data types: for a type registered from outside the
package, :func:`loop` returns an uncached twin of the loop.
"""
import numba
from numba.extending import overload

from .._numba.jit import jit

_KERNELS = {}
_TWINS = {}


def register(data_class, kernel):
    """Make ``velocity(theta, data, out)`` call ``kernel`` for ``data`` of ``data_class``.

    Parameters
    ----------
    data_class : type
        A ``collections.namedtuple`` class (what the oracle passes to the loops).
    kernel : numba dispatcher
        ``kernel(theta, data, out) -> risk``: the risk R(f) at ``theta`` (m, d + 2)
        and the mean-field velocity written into ``out`` (m, d + 2).
    """
    other = _KERNELS.get(data_class)
    if other is not None and other is not kernel:
        raise ValueError(f"{data_class.__name__} is already registered to {other}")
    _KERNELS[data_class] = kernel


def is_builtin(data_class):
    """Whether ``data_class`` belongs to the package (its loops may be cached on disk)."""
    return data_class.__module__.split(".")[0] == __name__.split(".")[0]


def loop(dispatcher, data):
    """The version of the compiled loop ``dispatcher`` to call with ``data``.

    The cached dispatcher itself for the package's data types; for a type registered
    from elsewhere an uncached twin (same code, compiled in memory once per process).

    Parameters
    ----------
    dispatcher : numba dispatcher
        A compiled loop that takes an oracle's data.
    data : namedtuple
        The oracle's data (its type decides).

    Returns
    -------
    numba dispatcher
    """
    if is_builtin(type(data)) or not hasattr(dispatcher, "py_func"):  # (JIT disabled)
        return dispatcher
    twin = _TWINS.get(dispatcher)
    if twin is None:
        options = {k: v for k, v in dispatcher.targetoptions.items() if k not in ("cache", "nopython")}
        twin = _TWINS[dispatcher] = numba.njit(**options)(dispatcher.py_func)
    return twin


def registered():
    """The registered data classes and their kernels (dict)."""
    return dict(_KERNELS)


def velocity(theta, data, out):
    """Risk at ``theta`` and the velocity into ``out``.

    Resolved at compile time inside compiled code (the overload below); called from
    Python (and everywhere with ``NUMBA_DISABLE_JIT=1``) it dispatches on the type of
    ``data`` here.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    data : namedtuple
        A registered oracle's data.
    out : ndarray, shape (m, d + 2)
        Receives the velocity.

    Returns
    -------
    float
        The risk.
    """
    kernel = _KERNELS.get(type(data))
    if kernel is None:
        raise TypeError(f"no velocity is registered for {type(data).__name__}; allowed: "
                        f"{', '.join(c.__name__ for c in _KERNELS) or 'none yet'}")
    return kernel(theta, data, out)


@overload(velocity)
def _velocity_overload(theta, data, out):
    kernel = _KERNELS.get(getattr(data, "instance_class", None))
    if kernel is None:
        return None

    def impl(theta, data, out):
        return kernel(theta, data, out)

    return impl


@jit
def call_velocity(theta, data, out):
    """Python-callable entry point: :func:`velocity` for one oracle's data.

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    data : namedtuple
        A registered oracle's data.
    out : ndarray, shape (m, d + 2)
        Receives the velocity.

    Returns
    -------
    float
        The risk.
    """
    return velocity(theta, data, out)
