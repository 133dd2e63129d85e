"""Adding results to a finished run file without touching its trajectory."""
from __future__ import annotations

import json
import os

import numpy as np

from .lock import WriterLock
from .reader import Run
from .verify import check_slots


def annotate(path, name, attrs, arrays=None, group="optimality"):
    """Write the group ``/<group>/<name>`` (replacing an earlier one) into ``path``.

    Parameters
    ----------
    path : str
        A run file (checked first; no other process may be writing it).
    name : str
        Group name, e.g. "polish" or "certificate".
    attrs : dict
        JSON-serialisable report, stored as the attribute ``report``.
    arrays : dict of str -> ndarray, optional
        Datasets of the group (with checksums).
    group : str
        "optimality" (polish, certificate) or "lazy" (the tangent twin's gap).
    """
    import h5py

    path = os.fspath(path)
    with WriterLock(path):
        with Run(path) as run:  # the file is intact before it is changed
            check_slots(run.f, path)
        with h5py.File(path, "r+", libver="latest", locking=False) as f:
            parent = f.require_group(group)
            if name in parent:
                del parent[name]
            g = parent.create_group(name)
            g.attrs["report"] = json.dumps(attrs, default=_plain)
            for key, value in (arrays or {}).items():
                g.create_dataset(key, data=np.asarray(value), fletcher32=True)


def read_annotation(f, name, group="optimality"):
    """The report (dict) stored under ``/<group>/<name>`` of an open file, or None."""
    key = f"{group}/{name}"
    if key not in f:
        return None
    return json.loads(f[key].attrs["report"])


def _plain(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
