"""Who owns the cores during a compiled call, and how many there are.

The compiled kernels split their work into a fixed number of lanes run by Numba's
thread pool (results never depend on the thread count). Two things can make such a
call several times slower, silently:

* BLAS pools spinning next to Numba's (measured: 17 ms vs 6.5 ms per exact step at
  m = 512 on 2 cores). Inside :func:`pool_owner` every BLAS library loaded in the
  process is limited to one thread, including SciPy's OpenBLAS that Numba's own
  ``np.dot`` uses: it is loaded before the limit is set, and the set of libraries is
  rescanned whenever new modules were imported since the last scan.
* Threads that spin while another process uses the core (measured: 2-thread runs
  5x slower than 1-thread runs next to one busy process, with OpenMP's default spin).
  Numba's OpenMP pool is started with a short spin (``GOMP_SPINCOUNT=3000`` unless
  the user set it or ``OMP_WAIT_POLICY``), after which a waiting thread sleeps
  instead of taking the core from the thread that has work left. (A fully passive
  pool costs about 50 us per parallel call to wake: a third of a small step.)

:func:`available_cores` counts the cores this process may use (CPU affinity and a
cgroup CPU quota), the default thread count.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import threading

_active = threading.local()
_threads_ready = False
_scan = {"modules": -1, "controller": None}
#: spins of a waiting OpenMP thread before it sleeps (GNU OpenMP's GOMP_SPINCOUNT; its
#: default is 300 000, and 0 is the passive policy). A short spin keeps the pool awake
#: from one step to the next (a sleeping pool costs about 50 us per parallel call to
#: wake: d=2 n=1000 m=1000 took 193 us per step passive, 140 us with this spin), and is
#: short enough not to steal the core next to a busy process (the default thread
#: choice stayed within 1.15x of one thread there; 30 000 spins gave 1.67x).
SPINCOUNT = 3_000


def available_cores():
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


#: below this much work per oracle call (pairs x (d + 8)) a run uses one thread: waking
#: a second thread costs more than it saves (measured on 2 cores: a 2-thread step of
#: the exact oracle at m = 64, d = 2 took 2.1x the 1-thread time; from m = 256 on,
#: and for the sampled oracle from n m = 3e5 on, 2 threads are faster)
PARALLEL_WORK = 6e5


def default_threads(oracle):
    """Threads for a run of ``oracle``: 1 for small problems, else :func:`available_cores`."""
    if oracle.pairs * (oracle.d + 8) < PARALLEL_WORK:
        return 1
    return available_cores()


def _cgroup_quota():
    # cgroup v2 "cpu.max" = "<quota> <period>" or "max <period>"; v1 cfs files
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as fh:
            quota = int(fh.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fh:
            period = int(fh.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def prepare_environment():
    """A short OpenMP spin for Numba's pool (see :data:`SPINCOUNT`), unless the user chose
    a wait policy or a spin count.

    Must run before Numba starts its thread pool (:func:`ensure_threads`
    calls it); GNU OpenMP reads the variable once, when the pool starts.
    """
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = str(SPINCOUNT)
    os.environ.setdefault("KMP_BLOCKTIME", "0")


def _controller():
    """A threadpoolctl controller over the libraries loaded now (rescanned after imports)."""
    n = len(sys.modules)
    if _scan["controller"] is None or _scan["modules"] != n:
        from threadpoolctl import ThreadpoolController

        _scan["controller"] = ThreadpoolController()
        _scan["modules"] = len(sys.modules)
    return _scan["controller"]


def _load_numba_blas():
    # Numba's compiled np.dot calls SciPy's BLAS (scipy.linalg.cython_blas); load it now
    # so that the limit below covers it even when a kernel is the first to need it
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:  # pragma: no cover - SciPy is a dependency
        pass


@contextlib.contextmanager
def pool_owner(threads=None):
    """Context in which Numba's pool owns the cores (every BLAS pool at one thread).

    Re-entrant: inside an active context it only changes the thread count, so a
    whole run can hold the setting once instead of once per compiled call.

    Parameters
    ----------
    threads : int or None
        Numba threads inside the context (None: leave the current setting).
    """
    previous = None
    if threads is not None:
        import numba

        ensure_threads()
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        if getattr(_active, "on", False):
            yield
            return
        _load_numba_blas()
        _active.on = True
        try:
            with _controller().limit(limits=1, user_api="blas"):
                yield
        finally:
            _active.on = False
    finally:
        if previous is not None:
            import numba

            numba.set_num_threads(previous)




def ensure_threads():
    """Start Numba's parallel thread pool before running cached kernels.

    Machine code loaded from the cache that reaches a ``parallel=True`` kernel
    through another kernel assumes the pool is running; when nothing has compiled a
    parallel function in the process yet, it is not, and the call segfaults (seen
    with Numba 0.68: the benchmark crashed on a cache written by the test suite).
    Starting the pool first is cheap and idempotent. The pool starts with a passive
    OpenMP wait policy (see :func:`prepare_environment`).
    """
    global _threads_ready
    if _threads_ready:
        return
    import warnings

    import numba

    prepare_environment()

    try:
        from numba.np.ufunc.parallel import _launch_threads
    except ImportError as exc:  # pragma: no cover - moved in another Numba version
        warnings.warn(f"particles: Numba {numba.__version__} has no _launch_threads ({exc}); "
                      "cached parallel kernels may crash when called first", RuntimeWarning,
                      stacklevel=2)
    else:
        _launch_threads()
    _threads_ready = True
