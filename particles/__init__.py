"""particles: two-layer neural networks as clouds of interacting particles.

A neuron is a particle theta_i = (c_i, a_i, b_i); the network is
f(x) = (alpha/m) sum_i c_i sigma(a_i . x + b_i). ``particles`` moves the m particles
along the (discretised) Wasserstein gradient flow of the population loss, in
mean-field time, and in the lazy regime (large alpha).

Quick start::

    import particles as pt
    cfg = pt.Config(network=pt.NetworkConfig(m=16), integrator=pt.IntegratorConfig(t_end=5))
    result = pt.simulate(cfg)
    result.observables["risk"][-1]

The public surface is re-exported here lazily: ``import particles`` loads neither
Numba nor SciPy and compiles nothing; kernels compile on first use and are cached
on disk. ``pt.Config()`` and ``pt.load(path)`` do not load Numba either. Nothing
inside the package imports this facade; the layers below it, bottom to top, are
``registry``/``_numba`` -> ``kernels`` -> ``config``, ``model`` -> ``oracles``, ``io``
-> ``dynamics`` -> ``analysis`` -> ``viz`` -> ``experiments`` -> ``cli`` (see
docs/architecture.md). ``particles.lazy`` is the public module of the lazy regime.
"""
from ._version import __version__

#: public name -> module that defines it (imported on first access)
_EXPORTS = {
    # configuration
    "Config": "config", "ProblemConfig": "config", "NetworkConfig": "config",
    "InitConfig": "config", "OracleConfig": "config", "IntegratorConfig": "config",
    "RecordConfig": "config", "OutputConfig": "config", "ConfigError": "config",
    "load_toml": "config", "from_dict": "config", "to_dict": "config",
    # problems and initialisation
    "Problem": "model.problems", "teacher_student": "model.problems",
    "dataset": "model.problems", "random_teacher": "model.problems",
    "sample_inputs": "model.problems", "initialize": "model.initial",
    "deconvolution": "model.deconvolution", "Deconvolution": "model.deconvolution",
    # oracles and integrators
    "Oracle": "oracles", "exact_oracle": "oracles", "sample_oracle": "oracles",
    "online_oracle": "oracles", "deconvolution_oracle": "oracles",
    "FixedStep": "dynamics.integrators", "OdeDriver": "dynamics.integrators",
    "State": "model.state", "temperature_at": "dynamics.integrators",
    # observables of the Langevin dynamics
    "entropy": "dynamics.observables", "free_energy": "dynamics.observables",
    # running
    "simulate": "dynamics.simulation", "Simulation": "dynamics.simulation",
    "Result": "dynamics.simulation",
    "MemoryRecorder": "io.recorder", "Recorder": "io.recorder",
    "ACTIVATIONS": "registry",
    # store
    "load": "io", "Run": "io", "H5Writer": "io", "run": "dynamics.runner",
    "resume": "dynamics.runner",
    # sweeps
    "Sweep": "experiments.sweep", "run_sweep": "experiments.sweep",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'particles' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
