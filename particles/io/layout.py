"""The layout of a run file (H5MD 1.1), created in one go; see particles.io.writer."""
from __future__ import annotations

import getpass
import json
import platform
import time as _time

import numpy as np

from .._version import __version__
from ..model.problems import to_attrs

H5MD_VERSION = (1, 1)
STATE_BYTES = 8192
# The 1-D record datasets (steps, times, observable values) hold one record per chunk,
# and frames one frame per chunk: a checksummed chunk is written once and never
# rewritten. Rewriting a chunk of older records (HDF5 moves a filtered chunk and frees
# its old place, which another write may reuse) could leave those records unreadable
# after a kill; seen once in CI with 256-record chunks.


def _versions():
    import h5py
    import numba
    import scipy

    return {"particles": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version, "python": platform.python_version()}


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def create_layout(info, tmp, storage_dtype, compression, opened=None):
    """Create the run file ``tmp`` with every group, dataset and attribute of a run.

    Parameters
    ----------
    info : dict
        What :meth:`particles.Simulation.info` returns.
    tmp : str
        Path of the new file.
    storage_dtype : numpy dtype
        Precision of the stored frames.
    compression : str or None
        HDF5 filter of the frames.
    opened : list, optional
        Receives the new ``h5py.File`` as soon as it exists (so that a caller can keep
        its handles alive when a write into it fails half way).

    Returns
    -------
    h5py.File
        The new file, open for writing.
    """
    import h5py

    m, d = info["m"], info["d"]
    # fs_strategy "none": space freed while the file is written (an index block that
    # grew and moved) is never reused, so a kill cannot leave the on-disk metadata
    # pointing at a place that now holds something else
    f = h5py.File(tmp, "w", libver="latest", fs_strategy="none")
    if opened is not None:
        opened.append(f)
    h5 = f.create_group("h5md")
    h5.attrs["version"] = np.array(H5MD_VERSION, dtype=np.int32)
    h5.create_group("author").attrs["name"] = _user()
    cr = h5.create_group("creator")
    cr.attrs["name"] = "particles"
    cr.attrs["version"] = __version__
    neurons = f.create_group("particles/neurons")
    _box(neurons, d + 2)
    pos = neurons.create_group("position")
    pos.create_dataset("step", (0,), maxshape=(None,), dtype=np.int64, chunks=(1,),
                       fletcher32=True)
    pos.create_dataset("time", (0,), maxshape=(None,), dtype=np.float64, chunks=(1,),
                       fletcher32=True)
    pos.create_dataset("value", (0, m, d + 2), maxshape=(None, m, d + 2),
                       dtype=storage_dtype, chunks=(1, m, d + 2),
                       compression=compression, fletcher32=True)
    neurons.create_dataset("mass", data=np.full(m, 1.0 / m), fletcher32=True)
    teacher = info.get("teacher")
    if teacher is not None:
        tg = f.create_group("particles/teacher")
        _box(tg, d + 2)
        tg.create_dataset("position", data=np.asarray(teacher, dtype=np.float64),
                          fletcher32=True)
    obs = f.create_group("observables")
    for name in info["observables"]:
        g = obs.create_group(name)
        g.create_dataset("step", (0,), maxshape=(None,), dtype=np.int64, chunks=(1,),
                         fletcher32=True)
        g.create_dataset("time", (0,), maxshape=(None,), dtype=np.float64, chunks=(1,),
                         fletcher32=True)
        g.create_dataset("value", (0,), maxshape=(None,), dtype=np.float64, chunks=(1,),
                         fletcher32=True)
    par = f.create_group("parameters")
    par.attrs["config"] = json.dumps(info["config"], default=_json_default)
    par.attrs["versions"] = json.dumps(_versions())
    par.attrs["seed"] = info["seed"]
    par.attrs["m"] = m
    par.attrs["d"] = d
    par.attrs["dtype"] = info["dtype"]
    par.attrs["dt"] = info["dt"]
    par.attrs["n_steps"] = info["n_steps"]
    par.attrs["created"] = _time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if info.get("conventions"):
        par.attrs["conventions"] = json.dumps(info["conventions"])
    if info.get("lazy_criterion"):
        par.attrs["lazy_criterion"] = json.dumps(info["lazy_criterion"], default=_json_default)
    problem = info.get("problem")
    if problem is not None:
        par.attrs["problem"] = json.dumps(to_attrs(problem, info.get("problem_origin",
                                                                     "config")))
    par.create_dataset("theta0", data=info["theta0"], fletcher32=True)
    ck = par.create_group("checkpoint")
    ck.create_dataset("theta", data=np.stack([info["theta0"], info["theta0"]]),
                      chunks=(1,) + info["theta0"].shape, fletcher32=True)
    ck.create_dataset("state", data=np.array([b"", b""], dtype=f"S{STATE_BYTES}"),
                      fletcher32=True)
    ck.create_dataset("active", data=np.int64(0))
    if problem is not None and problem.X is not None:
        dg = par.create_group("data")
        for key in ("X", "y", "X_test", "y_test"):
            arr = getattr(problem, key)
            if arr is not None:
                dg.create_dataset(key, data=arr, compression="gzip", fletcher32=True)
    return f


def _box(group, dim):
    box = group.create_group("box")
    box.attrs["dimension"] = np.int32(dim)
    box.attrs["boundary"] = np.array([b"none"] * dim)


def _user():
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"
