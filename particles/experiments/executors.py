"""Where a sweep's runs execute: in this process, on a local process pool, or on a Dask
cluster (:func:`make_executor`; documented with :mod:`particles.experiments.sweep`).

An executor maps a function over tasks and yields the results as they finish; ``stop``
interrupts the runs (each checkpoints and stays resumable), ``close`` waits for them.
"""
from __future__ import annotations

import os
import signal
import sys

from .._checks import ConfigError


class SerialExecutor:
    """Runs the tasks one after the other in this process."""

    workers = 1

    def map_unordered(self, fn, tasks):
        for task in tasks:
            yield fn(task)

    def stop(self):
        pass

    def close(self):
        pass

    def describe(self):
        return "serial"


class PoolExecutor:
    """A local process pool (``spawn``): ``workers`` processes, results as they finish.

    Parameters
    ----------
    workers : int
        Processes (each gets cores / workers Numba threads).
    """

    def __init__(self, workers):
        import concurrent.futures
        import multiprocessing

        self.workers = int(workers)
        self._cf = concurrent.futures
        main = sys.modules.get("__main__")
        if getattr(main, "__file__", None) == "<stdin>":
            # a script read from stdin: spawned workers would try to run "<stdin>" as
            # the main module and die; they need nothing from it
            del main.__file__
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def map_unordered(self, fn, tasks):
        futures = [self._pool.submit(fn, t) for t in tasks]
        for fut in self._cf.as_completed(futures):
            yield fut.result()

    def stop(self):
        """Interrupt the workers (each run checkpoints and stays resumable), then close."""
        procs = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGINT)
                except OSError:
                    pass
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()

    def close(self):
        self._pool.shutdown(wait=True)

    def describe(self):
        return f"process pool, {self.workers} workers"


class DaskExecutor:
    """A Dask ``distributed`` client: a scheduler address, "local" for a
    ``LocalCluster`` started (and closed) with the sweep, or a ``Client`` of the
    caller's (left open).

    Parameters
    ----------
    address : str or dask.distributed.Client
        "local", a scheduler address, or a client.
    workers : int, optional
        Processes of a "local" cluster (default: one per core).
    """

    def __init__(self, address, workers=None):
        try:
            from dask.distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ConfigError("--dask needs Dask's distributed scheduler; allowed: "
                              "pip install 'meanfield-particles[dask]'") from None
        self._as_completed = as_completed
        self._cluster = None
        self._own = True
        if isinstance(address, Client):
            self.client, self._own = address, False
            address = getattr(address.scheduler, "address", "client")
        elif address == "local":
            n = workers or 2
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = Client(address)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or (workers or 1)
        self.address = address

    def map_unordered(self, fn, tasks):
        futures = [self.client.submit(fn, t, pure=False) for t in tasks]
        for fut in self._as_completed(futures):
            yield fut.result()

    def stop(self):
        self.close()

    def close(self):
        if self._own:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self):
        return f"Dask ({self.address}, {self.workers} workers)"


def make_executor(workers=None, dask=None):
    """The executor of a sweep's runs.

    Parameters
    ----------
    workers : int, optional
        Processes: 1 runs serially in this process; default: one per core this process
        may use.
    dask : str or dask.distributed.Client, optional
        ``"local"`` (a LocalCluster of ``workers`` processes), a scheduler address, or a
        client; takes precedence over the local choices.

    Returns
    -------
    SerialExecutor, PoolExecutor or DaskExecutor
    """
    if dask is not None:
        return DaskExecutor(dask, workers)
    if workers is None:
        from .._numba.threads import available_cores

        workers = available_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r} is invalid; allowed: an integer >= 1")
    return SerialExecutor() if workers == 1 else PoolExecutor(workers)
