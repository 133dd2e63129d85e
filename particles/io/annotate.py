"""Adding results to a finished run file without touching its trajectory."""
from __future__ import annotations

import json
import os

import numpy as np

from .lock import WriterLock
from .reader import Run
from .verify import check_slots

#: room kept for HDF5's own structures when an annotation is added (a group, its
#: attribute and its datasets' headers)
ANNOTATION_MARGIN = 2 ** 16


def annotate(path, name, attrs, arrays=None, group="optimality"):
    """Write the group ``/<group>/<name>`` (replacing an earlier one) into ``path``.

    The file is never changed in place: a copy is annotated and then renamed over it,
    so a command that fails while writing (a full disk, a file-size limit, Ctrl-C)
    leaves the run file exactly as it was. This needs room for one more copy of the
    file, which is checked before anything is written.

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

    Raises
    ------
    particles.io.writer.StoreWriteError
        There is no room for the annotated copy, or writing it failed; the run file is
        unchanged either way.
    """
    from .writer import write_whole

    path = os.fspath(path)
    report = json.dumps(attrs, default=_plain)
    arrays = {key: np.asarray(value) for key, value in (arrays or {}).items()}

    def fill(f, check):
        parent = f.require_group(group)
        if name in parent:
            del parent[name]
        g = parent.create_group(name)
        g.attrs["report"] = report
        check()
        for key, value in arrays.items():
            g.create_dataset(key, data=value, fletcher32=True)
            check()

    with WriterLock(path):
        with Run(path) as run:  # the file is intact before it is changed
            check_slots(run.f, path)
        need = (os.path.getsize(path) + len(report) + sum(a.nbytes for a in arrays.values())
                + ANNOTATION_MARGIN)
        write_whole(path, fill, need=need, what=f"annotating {path!r}",
                    kept="the file is unchanged", copy=True)


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
