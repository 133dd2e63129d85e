"""Central Numba settings: every kernel is compiled lazily and cached on disk.

``jit`` and ``pjit`` are the only decorators the package uses, so the flags
(``cache=True``, no ``fastmath``: NaN/Inf semantics are kept) live in one place.
Nothing here compiles at import time.
"""
import numba

# nogil lets a caller run kernels from several Python threads; error_model="numpy"
# makes a division by zero give inf/nan (checked by the divergence guard) instead of
# raising inside compiled code.
_FLAGS = dict(cache=True, nogil=True, error_model="numpy")

jit = numba.njit(**_FLAGS)
pjit = numba.njit(parallel=True, **_FLAGS)
inline = numba.njit(inline="always", **_FLAGS)


class FastCall:
    """Call one compiled overload of a dispatcher directly.

    A Numba dispatcher types every argument on every call; for the nested
    ``OracleData`` bundle that costs about 0.6 ms, more than a whole step of a small
    problem. The first call goes through the dispatcher (compiling or loading from the
    cache); later calls go straight to that overload's entry point. The caller
    guarantees that the argument types never change (one FastCall per oracle and
    state dtype, arrays C-contiguous and writeable).
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.entry = None

    def __call__(self, *args):
        if self.entry is None:
            result = self.dispatcher(*args)
            key = tuple(self.dispatcher.typeof_pyval(a) for a in args)
            self.entry = self.dispatcher.overloads[key].entry_point
            return result
        return self.entry(*args)
