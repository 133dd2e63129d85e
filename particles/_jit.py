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
