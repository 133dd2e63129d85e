"""The package's vocabulary as data: names, codes and where each piece lives.

Nothing here imports NumPy, Numba or another module of the package, so that a
configuration can be built and checked, and a run file read, without loading a
compiler. Every layer reads its names from here; adding an oracle, an integrator or a
random stream is one line in one of these tables (plus its module).

* :data:`ACTIVATIONS` -- activation name -> integer code used inside compiled kernels
  (the compiled sigma, sigma', sigma'' are in :mod:`particles.kernels.activations`).
* :data:`LOSSES` -- loss names.
* :data:`STREAMS` -- random stream name -> fixed spawn key (see :mod:`particles.model.rng`).
* :data:`PROBLEM_KINDS`, :data:`PROBLEM_ORACLES` -- problem kinds, and the exact oracle
  of the kinds that bring their own.
* :data:`GEOMETRIES` -- the geometries of the flow (Wasserstein, Wasserstein-Fisher-Rao).
* :data:`ORACLES` -- oracle kind -> ``"module:builder"`` under :mod:`particles.oracles`.
* :data:`METHODS` -- integrator method -> ``"module:factory"`` under
  :mod:`particles.dynamics`.
"""

#: activation name -> code (the branch taken inside compiled kernels)
ACTIVATIONS = {
    "relu": 0,
    "leaky_relu": 1,
    "sigmoid": 2,
    "tanh": 3,
    "erf": 4,
    "softplus": 5,
}

#: activations with sigma(z) = z sigma'(z): the ReLU conservation law holds.
HOMOGENEOUS = frozenset({"relu", "leaky_relu"})

LOSSES = ("squared", "logistic")

#: stream name -> spawn key of ``SeedSequence(seed, spawn_key=(key,))``. Keys are fixed
#: forever (run files store stream states by name): add a name, never renumber one.
#: "noise" holds the online oracle's minibatch draws, "diffusion" the Brownian
#: increments of a run at a temperature > 0 (mean-field Langevin dynamics).
STREAMS = {"teacher": 0, "data": 1, "init": 2, "noise": 3, "monitor": 4, "test": 5,
           "probe": 6, "diffusion": 7}

#: temperature schedules T(t) of the Langevin dynamics: name -> formula in words
TEMPERATURE_SCHEDULES = {"constant": "T(t) = T", "log": "T(t) = T / log(e + t)"}

#: problem kinds: what is learnt (teacher network, data set, or a measure on the torus)
PROBLEM_KINDS = ("teacher_student", "dataset", "deconvolution")

#: problem kind -> "module:builder" of its own exact oracle (module under
#: particles.oracles); a kind not listed here uses :data:`ORACLES`
PROBLEM_ORACLES = {"deconvolution": "deconvolution:build"}

#: geometries of the flow: name -> what moves (docs/deconvolution.md)
GEOMETRIES = {
    "wasserstein": "particles move, masses fixed (c is a coordinate like the others)",
    "wfr": "Wasserstein-Fisher-Rao: positions move per unit mass, masses |c| grow or "
           "shrink multiplicatively (the conic particle flow)",
}

#: oracle kind -> "module:builder" (module under particles.oracles);
#: ``builder(config, problem, streams) -> Oracle``
ORACLES = {
    "exact": "exact:build",
    "sampled": "sampled:build_sampled",
    "online": "sampled:build_online",
    "dataset": "sampled:build_dataset",
}

#: integrator method -> "module:factory" (module under particles.dynamics);
#: ``factory(config, oracle) -> Integrator``. The fixed-step methods come first.
METHODS = {
    "euler": "integrators:fixed_step",
    "heun": "integrators:fixed_step",
    "sgd": "integrators:fixed_step",
    "rk45": "integrators:ode_driver",
    "dop853": "integrators:ode_driver",
    "lsoda": "integrators:ode_driver",
    "bdf": "integrators:ode_driver",
}
FIXED_METHODS = ("euler", "heun", "sgd")


def activation_code(name):
    """Integer code of the activation ``name`` (ValueError naming the choices).

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.

    Returns
    -------
    int
    """
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string, got {type(name).__name__}")
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"activation={name!r} is unknown; allowed: {', '.join(ACTIVATIONS)}"
        ) from None


def locate(table, key, package):
    """Import and return the object that ``table[key]`` names under ``package``.

    Parameters
    ----------
    table : dict
        One of :data:`ORACLES` or :data:`METHODS`.
    key : str
        The registered name.
    package : str
        The package the module names are relative to (``"particles.oracles"``).
    """
    import importlib

    module, attr = table[key].split(":")
    return getattr(importlib.import_module(f"{package}.{module}"), attr)
