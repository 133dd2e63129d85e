"""Central Numba settings: every kernel is compiled lazily and cached on disk.

The decorators the package uses are defined here and nowhere else, so the flags
live in one place: ``jit``, ``pjit`` (parallel) and ``inline`` keep strict IEEE
semantics (``cache=True``, no ``fastmath``); ``vjit`` and ``vinline`` are for hot loops
that must vectorise and allow only reassociation and FMA contraction
(:data:`FASTMATH`: no 'nnan'/'ninf', so NaN and Inf keep their meaning).
Nothing here compiles at import time.

Four uses of Numba internals live here and nowhere else, each tested in
``tests/test_jit.py`` (a test fails when one stops working; pyproject.toml pins the
Numba range they were tested with):

* the cache guard (``CacheImpl._locator_classes``): package-wide cache invalidation;
* the cache-write guard (``Cache.save_overload``): a full disk or a file-size limit
  while a kernel is cached is a warning, not a failed command;
* the thread-pool launch (``numba.np.ufunc.parallel._launch_threads``);
* :class:`FastCall` (``Dispatcher.overloads[...].entry_point``).

When a hook cannot be installed, a :class:`RuntimeWarning` says so (never silently).
"""
import hashlib
import os
import warnings

import numba

from .._checks import NO_ROOM
from .threads import ensure_threads

#: the package root (particles/), one level above this file
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_package_digest = None


def package_digest():
    """SHA-256 of every .py file of the package (computed once per process)."""
    global _package_digest
    if _package_digest is None:
        h = hashlib.sha256()
        for root, dirs, files in os.walk(_PACKAGE_DIR):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    h.update(os.path.relpath(path, _PACKAGE_DIR).encode())
                    with open(path, "rb") as fh:
                        h.update(fh.read())
        _package_digest = h.hexdigest()
    return _package_digest


def _install_cache_guard():
    """Make every cached kernel of the package stale when any package file changes.

    Numba stamps a cache entry with the source of the file that defines the
    function only; a kernel that calls a kernel from another file keeps its stale
    machine code when only the callee changes (we hit this as a segfault after
    editing a callee). This locator wraps Numba's own ones for files of this
    package and adds the package digest to the stamp. It uses Numba's cache
    locator hook (``CacheImpl._locator_classes``); if that ever moves, caching
    falls back to Numba's default behaviour.
    """
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
        base_classes = list(impl._locator_classes)
        abstract = getattr(caching, "_CacheLocator", None) or caching.CacheLocator
    except (ImportError, AttributeError) as exc:  # pragma: no cover - other Numba versions
        warnings.warn(f"particles: Numba {numba.__version__} has no cache locator hook "
                      f"({exc}); cached kernels are not invalidated when another file of "
                      "the package changes (clear NUMBA_CACHE_DIR after upgrading)",
                      RuntimeWarning, stacklevel=2)
        return
    if any(getattr(c, "_particles_guard", False) for c in base_classes):
        return

    class PackageLocator(abstract):
        _particles_guard = True

        def __init__(self, inner):
            self._inner = inner

        def ensure_cache_path(self):
            self._inner.ensure_cache_path()

        def get_cache_path(self):
            return self._inner.get_cache_path()

        def get_source_stamp(self):
            return (self._inner.get_source_stamp(), package_digest())

        def get_disambiguator(self):
            # the digest in the file names too: an index written by another version of
            # the package is never unpickled (it may name classes that no longer exist)
            return f"{self._inner.get_disambiguator()}-{package_digest()[:12]}"

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.abspath(py_file).startswith(_PACKAGE_DIR + os.sep):
                return None
            for base in base_classes:
                inner = base.from_function(py_func, py_file)
                if inner is not None:
                    return cls(inner)
            return None

    impl._locator_classes = [PackageLocator] + base_classes


_install_cache_guard()

#: the kernels of this process whose cache write found no room
_uncached = []


def _install_cache_write_guard():
    """Let a kernel run when caching it fails for want of room.

    Numba writes a compiled kernel to its cache right after compiling it, and lets an
    OSError of that write escape from the first call: under a full disk or a small
    file-size limit (``ulimit -f``) a run failed in its first step although the kernel
    was compiled. For this package's kernels (those behind the cache guard above) such
    a write now warns (once per process) and the kernel runs uncached; other errors, and
    other packages' kernels, are untouched.
    """
    try:
        from numba.core import caching

        original = caching.Cache.save_overload
    except (ImportError, AttributeError) as exc:  # pragma: no cover - other Numba versions
        warnings.warn(f"particles: Numba {numba.__version__} has no Cache.save_overload "
                      f"({exc}); a full disk while a kernel is cached fails the command",
                      RuntimeWarning, stacklevel=2)
        return
    if getattr(original, "_particles_guard", False):
        return

    def save_overload(self, sig, data):
        try:
            original(self, sig, data)
        except OSError as exc:
            locator = getattr(getattr(self, "_impl", None), "locator", None)
            if exc.errno not in NO_ROOM or not getattr(locator, "_particles_guard", False):
                raise
            if not _uncached:  # one warning for all the kernels of the process
                warnings.warn(f"particles: compiled kernels could not be cached "
                              f"({os.strerror(exc.errno)}, in {self._cache_path}); they run, "
                              "and are compiled again by the next process", RuntimeWarning,
                              stacklevel=2)
            _uncached.append(self._name)

    save_overload._particles_guard = True
    caching.Cache.save_overload = save_overload


_install_cache_write_guard()

# nogil lets a caller run kernels from several Python threads; error_model="numpy"
# makes a division by zero give inf/nan (checked by the divergence guard) instead of
# raising inside compiled code.
_FLAGS = dict(cache=True, nogil=True, error_model="numpy")

jit = numba.njit(**_FLAGS)
#: the one set of fastmath flags: reassociation (vectorised reductions) and FMA
#: contraction; no 'nnan'/'ninf', so NaN and Inf keep their meaning
FASTMATH = {"reassoc", "contract"}
#: hot loops that must vectorise (reductions need reassociation)
vjit = numba.njit(fastmath=FASTMATH, **_FLAGS)
vinline = numba.njit(inline="always", fastmath=FASTMATH, **_FLAGS)
pjit = numba.njit(parallel=True, **_FLAGS)
inline = numba.njit(inline="always", **_FLAGS)
#: keyword arguments of ``numba.extending.overload`` for the package's overloads
OVERLOAD_FLAGS = dict(jit_options={"error_model": _FLAGS["error_model"]})


class FastCall:
    """Call one compiled overload of a dispatcher directly.

    A Numba dispatcher types every argument on every call; for the nested
    ``OracleData`` bundle that costs about 0.6 ms, more than a whole step of a small
    problem. The first call goes through the dispatcher (compiling or loading from the
    cache); later calls go straight to that overload's entry point. The caller
    guarantees that the argument types never change (one FastCall per oracle and
    state dtype, arrays C-contiguous and writeable).

    Parameters
    ----------
    dispatcher : numba dispatcher
        A compiled function (or, with ``NUMBA_DISABLE_JIT=1``, the plain function).
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.entry = None

    def __call__(self, *args):
        if self.entry is None:
            if not hasattr(self.dispatcher, "overloads"):  # NUMBA_DISABLE_JIT=1: Python
                return self.dispatcher(*args)
            ensure_threads()
            result = self.dispatcher(*args)
            key = tuple(self.dispatcher.typeof_pyval(a) for a in args)
            self.entry = self.dispatcher.overloads[key].entry_point
            return result
        return self.entry(*args)
