"""Compiling the kernels ahead of time (``particles compile``).

Numba compiles a kernel on its first call and caches the machine code on disk
(``NUMBA_CACHE_DIR``, or ``__pycache__`` next to the package). A run that finds its
kernels in the cache starts in about a second; one that does not compiles them first
(tens of seconds on a small machine). :func:`compile_kernels` runs a tiny in-memory
simulation of each configuration that selects other compiled code (an oracle, an
activation family, the precision, an integrator, the tangent model, the Langevin step,
the mass-carrying flow), so that a Docker image or a cluster's login node can fill the
cache once for every later process.
"""
from __future__ import annotations

import time

import numpy as np

from .. import config as _cfg


def _tiny(config):
    """``config`` shrunk to a few particles and two steps, recorded at its ends, no file:
    it runs the same compiled code as the full job."""
    ic = config.integrator
    small = dict(m=min(config.network.m, 4))
    rc = _cfg.RecordConfig(schedule="log", frames=2, observables_factor=1,
                           kernel_probes=min(config.record.kernel_probes, 4))
    return config.replace(network=config.network.replace(**small),
                          integrator=ic.replace(t_end=2 * ic.dt, stop_risk=None,
                                                stop_grad=None),
                          record=rc, output=_cfg.OutputConfig())


def _dataset_problem():
    from ..model.problems import dataset

    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 2))
    return dataset(X, np.tanh(X[:, 0]))


def _targets():
    """(name, config, needs a Python-built data set) of every compiled path, the
    embedded default job first."""
    from ..config.io import DEFAULT_CONFIG, load_toml

    default = load_toml(DEFAULT_CONFIG)
    C = _cfg
    exact = C.Config(problem=C.ProblemConfig(d=2), record=C.RecordConfig(kernel_probes=4))
    out = [("default job (exact relu, sphere inputs)", default, False)]
    out += [
        ("exact relu with bias, gaussian inputs", exact.replace(
            network=C.NetworkConfig(bias=True)), False),
        ("exact erf", exact.replace(network=C.NetworkConfig(activation="erf")), False),
        ("exact erf with bias", exact.replace(
            network=C.NetworkConfig(activation="erf", bias=True)), False),
        ("exact sigmoid (quadrature)", exact.replace(
            network=C.NetworkConfig(activation="sigmoid")), False),
        ("float32", default.replace(dtype="float32"), False),
        ("heun", default.replace(integrator=default.integrator.replace(method="heun")), False),
        ("rk45", default.replace(integrator=default.integrator.replace(method="rk45")), False),
        ("sampled", exact.replace(oracle=C.OracleConfig(kind="sampled", n=16,
                                                         n_monitor=16)), False),
        ("online (sgd)", exact.replace(oracle=C.OracleConfig(kind="online", batch=8,
                                                              n_monitor=16),
                                       integrator=C.IntegratorConfig(method="sgd")), False),
        ("dataset", C.Config(problem=C.ProblemConfig(kind="dataset", d=2),
                             oracle=C.OracleConfig(kind="dataset"),
                             record=C.RecordConfig(kernel_probes=4)), True),
        ("tangent model, exact", exact.replace(
            network=C.NetworkConfig(model="tangent")), False),
        ("tangent model, sampled", exact.replace(
            network=C.NetworkConfig(model="tangent"),
            oracle=C.OracleConfig(kind="sampled", n=16, n_monitor=16)), False),
        ("Langevin (temperature > 0)", default.replace(
            integrator=default.integrator.replace(temperature=1e-3)), False),
        ("deconvolution, wfr flow", C.Config(
            problem=C.ProblemConfig(kind="deconvolution", d=1, cutoff=10, m0=2),
            init=C.InitConfig(scheme="grid", tau=0.01),
            integrator=C.IntegratorConfig(geometry="wfr", dt=0.01),
            record=C.RecordConfig(kernel_probes=0)), False),
    ]
    return out


def targets(everything=False):
    """Names of what :func:`compile_kernels` compiles (the default job only, or with
    ``everything`` every oracle, activation family, precision and integrator)."""
    names = [name for name, _, _ in _targets()]
    return names if everything else names[:1]


def compile_kernels(everything=False, progress=None):
    """Fill the kernel cache for the default job, or for every compiled path.

    Parameters
    ----------
    everything : bool
        False: the kernels of the embedded default job (``particles run``); True: also
        every other oracle, activation family, precision, integrator, the tangent model,
        the Langevin step and the deconvolution flow (see :func:`targets`).
    progress : callable, optional
        ``progress(k, n, name, seconds)`` after each target (``seconds`` it took).

    Returns
    -------
    list of dict
        One ``{"name", "seconds"}`` per target; a target whose kernels were cached
        already takes well under a second.
    """
    from .simulation import simulate

    chosen = _targets() if everything else _targets()[:1]
    done = []
    for k, (name, config, data) in enumerate(chosen, 1):
        t0 = time.perf_counter()
        simulate(_tiny(config), problem=_dataset_problem() if data else None)
        seconds = time.perf_counter() - t0
        done.append({"name": name, "seconds": seconds})
        if progress is not None:
            progress(k, len(chosen), name, seconds)
    return done
