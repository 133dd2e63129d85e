"""Validators shared by the configuration and the public functions: each error names
the field, the value and what is allowed; and the two kinds of error the command line
tells apart by where they come from (:class:`ConfigError`: bad input, exit 2;
:class:`RunError`: a failure while a run was stepping, exit 1)."""
import errno
import math
import numbers

#: errno values of a write that failed for want of room (full disk, quota, size limit)
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class ConfigError(ValueError):
    """A configuration value is invalid (the message names key, value and rule)."""


class UnusedKeyError(ConfigError):
    """A key is set to a non-default value that the rest of the configuration never
    reads (refused rather than silently ignored); ``key`` is its dotted name."""

    def __init__(self, message, key):
        super().__init__(message)
        self.key = key


class RunError(RuntimeError):
    """An error raised inside a run's stepping loop, after every input was accepted.

    It wraps the original exception (``__cause__``), whatever its type: a ``ValueError``
    from deep inside a step is a failed run, not bad input.
    """


def _fail(key, value, allowed):
    raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")


def _check_int(key, value, lo=None, hi=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{key} must be an integer, got {value!r} ({type(value).__name__})")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        _fail(key, value, f"an integer {rng}")
    return int(value)


def _check_float(key, value, lo=None, hi=None, lo_open=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{key} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        _fail(key, value, "a finite number")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        _fail(key, value, f"a number {'>' if lo_open else '>='} {lo}")
    if hi is not None and value > hi:
        _fail(key, value, f"a number <= {hi}")
    return value


def _check_choice(key, value, choices):
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, got {value!r} ({type(value).__name__})")
    if value not in choices:
        _fail(key, value, ", ".join(repr(c) for c in choices))
    return value


def _check_bool(key, value):
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false, got {value!r} ({type(value).__name__})")
    return value


def _check_rng(key, value):
    """A numpy Generator (the library never uses the global RNG)."""
    import numpy as np

    if not isinstance(value, np.random.Generator):
        raise TypeError(f"{key} must be a numpy.random.Generator (e.g. "
                        f"numpy.random.default_rng(seed)), got {value!r} "
                        f"({type(value).__name__})")
    return value
