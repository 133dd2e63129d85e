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
on disk.
"""
__version__ = "0.2.0"

_EXPORTS = {
    # configuration
    "Config": "config", "ProblemConfig": "config", "NetworkConfig": "config",
    "InitConfig": "config", "OracleConfig": "config", "IntegratorConfig": "config",
    "RecordConfig": "config", "OutputConfig": "config", "ConfigError": "config",
    "load_toml": "config", "from_dict": "config", "to_dict": "config",
    # problems and initialisation
    "Problem": "problems", "teacher_student": "problems", "dataset": "problems",
    "random_teacher": "problems", "sample_inputs": "problems",
    "initialize": "initial",
    # oracles and integrators
    "Oracle": "oracles", "exact_oracle": "oracles", "sample_oracle": "oracles",
    "online_oracle": "oracles",
    "FixedStep": "integrators", "OdeDriver": "integrators", "State": "state",
    # running
    "simulate": "simulation", "Simulation": "simulation", "Result": "simulation",
    "MemoryRecorder": "recorder", "Recorder": "recorder",
    "ACTIVATIONS": "activations",
    # store
    "load": "io", "Run": "io", "H5Writer": "io", "run": "runner", "resume": "runner",
    # sweeps
    "Sweep": "sweep", "run_sweep": "sweep",
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
