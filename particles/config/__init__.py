"""Configuration: the validated schema, the applicability rules, and reading/writing.

:mod:`~particles.config.schema` holds the frozen dataclasses and their checks,
:mod:`~particles.config.rules` where the closed-form oracles apply, and
:mod:`~particles.config.io` dicts, TOML files and ``--set`` overrides (it imports the
schema, never the reverse). Every public name of the three is re-exported here, so
``particles.config.X`` keeps working. Building a configuration loads neither Numba
nor SciPy.
"""
from .._checks import ConfigError
from .io import assign, from_dict, load_toml, read_toml, set_value, to_dict
from .rules import exact_rule, exact_tangent_rule
from .schema import (DTYPES, FIXED_METHODS, INIT_SCHEMES, INPUTS, LOSSES, METHODS, MODELS,
                     ODE_METHODS, ORACLES, SCALINGS, SCHEDULES, TEACHER_OUTPUTS, Config,
                     InitConfig, IntegratorConfig, NetworkConfig, OracleConfig, OutputConfig,
                     ProblemConfig, RecordConfig, _SECTIONS, scaled_alpha)

__all__ = ["ConfigError", "assign", "from_dict", "load_toml", "read_toml", "set_value",
           "to_dict", "exact_rule", "exact_tangent_rule", "Config", "ProblemConfig",
           "NetworkConfig", "InitConfig", "OracleConfig", "IntegratorConfig", "RecordConfig",
           "OutputConfig", "scaled_alpha", "DTYPES", "FIXED_METHODS", "INIT_SCHEMES", "INPUTS",
           "LOSSES", "METHODS", "MODELS", "ODE_METHODS", "ORACLES", "SCALINGS", "SCHEDULES",
           "TEACHER_OUTPUTS", "_SECTIONS"]
