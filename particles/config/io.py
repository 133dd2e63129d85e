"""Configurations in and out: nested dicts (TOML tables), TOML files, ``--set`` overrides."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import fields

from .._checks import ConfigError

#: the embedded default job of ``particles run`` (a TOML file shipped with the package)
DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "data", "default.toml")


def _schema():
    from .schema import _SECTIONS, Config

    return _SECTIONS, Config


def from_dict(data):
    """Build a :class:`Config` from nested mappings (as read from TOML).

    Unknown sections or keys raise :class:`ConfigError` naming them and listing the
    allowed ones.

    Parameters
    ----------
    data : dict
        ``{"seed": ..., "dtype": ..., "threads": ..., "problem": {...}, "network": {...},
        ...}``; every key optional (its default otherwise, docs/config.md).

    Returns
    -------
    Config
    """
    _SECTIONS, Config = _schema()
    if not isinstance(data, dict):
        raise TypeError(f"configuration must be a table, got {type(data).__name__}")
    top = {}
    for key, value in data.items():
        if key in ("seed", "dtype", "threads"):
            top[key] = value
            continue
        if key not in _SECTIONS:
            allowed = ", ".join(list(_SECTIONS) + ["seed", "dtype", "threads"])
            raise ConfigError(f"unknown key {key!r}; allowed: {allowed}")
        cls = _SECTIONS[key]
        if not isinstance(value, dict):
            raise TypeError(f"{key} must be a table, got {value!r}")
        names = [f.name for f in fields(cls)]
        for k in value:
            if k not in names:
                raise ConfigError(f"unknown key {key}.{k}; allowed: {', '.join(names)}")
        vals = dict(value)
        if "times" in vals and isinstance(vals["times"], list):
            vals["times"] = tuple(vals["times"])
        top[key] = cls(**vals)
    return Config(**top)


def from_stored(data):
    """The :class:`Config` stored in a run file (as :func:`from_dict`), forgiving one thing.

    Files written by earlier versions can hold keys that their run never read (e.g.
    ``record.every`` with the log schedule), which :func:`from_dict` now refuses; such
    keys are reset to their defaults here, which changes nothing about the run.

    Parameters
    ----------
    data : dict
        The stored configuration (nested mappings).

    Returns
    -------
    Config
    """
    from .._checks import UnusedKeyError

    if not isinstance(data, dict):
        return from_dict(data)
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for _ in range(64):
        try:
            return from_dict(data)
        except UnusedKeyError as exc:
            section, key = exc.key.split(".")
            if key not in data.get(section, {}):
                raise
            del data[section][key]
    return from_dict(data)


def to_dict(config) -> dict:
    """Nested plain-Python dict of ``config`` (None values dropped, TOML-friendly).

    Parameters
    ----------
    config : Config

    Returns
    -------
    dict
        ``from_dict(to_dict(config)) == config``.
    """
    from .schema import Config

    if not isinstance(config, Config):
        raise TypeError(f"config must be a particles.Config, got {config!r} "
                        f"({type(config).__name__})")
    out = {}
    for f in fields(config):
        v = getattr(config, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = {k: _lists(x) for k, x in dataclasses.asdict(v).items()
                           if x is not None}
        else:
            out[f.name] = v
    return out


def _lists(x):
    """Tuples (nested ones too) as lists: what TOML and JSON write."""
    return [_lists(e) for e in x] if isinstance(x, (tuple, list)) else x


def read_toml(path) -> dict:
    """Read a TOML configuration file into nested dicts (not validated yet)."""
    import tomllib

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} does not exist"
                          + (" (it is a directory)" if os.path.isdir(path) else ""))
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path!r} is not UTF-8 text (byte {exc.start}); "
                              "allowed: a TOML file") from None
        except RecursionError:
            raise ConfigError(f"config file {path!r} nests too deeply; allowed: the sections "
                              "and keys of docs/config.md") from None
    return data


def load_toml(path):
    """Read and validate a TOML configuration file.

    Parameters
    ----------
    path : str or os.PathLike
        A TOML file with the sections of :class:`Config` (docs/config.md).

    Returns
    -------
    Config
    """
    return from_dict(read_toml(path))


def set_value(data: dict, assignment: str) -> dict:
    """Apply one ``section.key=value`` override (value parsed as TOML) to ``data``."""
    import tomllib

    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r} is invalid; allowed: section.key=value")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare word: a string
    return assign(data, key, value, f"--set {assignment!r}", "section.key=value")


def assign(data, key, value, label=None, allowed="section.key or a top-level key"):
    """Set the dotted ``key`` ("section.key" or a top-level key) of nested ``data``.

    ``label`` names the key in errors (default ``key``), ``allowed`` says what is allowed.
    """
    label = label or f"key {key!r}"
    parts = key.split(".")
    if len(parts) == 1:
        data[key] = value
    elif len(parts) == 2:
        data.setdefault(parts[0], {})
        if not isinstance(data[parts[0]], dict):
            raise ConfigError(f"{label}: {parts[0]!r} is not a section")
        data[parts[0]][parts[1]] = value
    else:
        raise ConfigError(f"{label} is invalid; allowed: {allowed}")
    return data
