"""One thread pool owns the cores per compiled call.

OpenBLAS threads spin-wait after each call; if a Numba ``parallel=True`` kernel runs
while they spin (or calls BLAS from its own threads), the two pools fight for the
cores and a step can get several times slower (measured: 17 ms vs 6.5 ms per exact
step at m = 512 on 2 cores). Oracles whose heavy part is a Numba ``prange`` loop
therefore run with BLAS limited to one thread; oracles whose heavy part is BLAS run
their other loops serially.
"""
import contextlib
import threading

_controller = None


def _get_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


_active = threading.local()


@contextlib.contextmanager
def pool_owner(owner):
    """Context in which ``owner`` ("numba" or "blas") has the cores.

    Re-entrant: inside an active context of the same owner it does nothing, so a
    whole run can hold the setting once instead of once per compiled call.
    """
    current = getattr(_active, "owner", None)
    if owner != "numba" or current == "numba":
        yield
        return
    _active.owner = owner
    try:
        with _get_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        _active.owner = current
