"""Checks that a file is an intact particles run before anything reads it.

Two layers, both cheap (well under a second for any run file):

* :func:`check_size` reads the HDF5 superblock and compares the end-of-file address
  it records with the file's size. A truncated file is refused at once; opening it
  in single-writer/multiple-reader mode would otherwise retry reads for minutes or
  return zeros for the missing records. After every flush the HDF5 library extends
  the file to that address, so a file that a writer is still growing passes.
* :func:`check_structure` walks the open file: no external links, soft links,
  external storage or virtual datasets (a run file is self-contained, and following
  them would read other files); every group, dataset and attribute a run has, with
  consistent shapes and dtypes; a parsable config and checkpoint.

Both raise :class:`NotARunError` (a ValueError) naming the file and what is wrong.

:func:`open_run` opens a file for reading in single-writer/multiple-reader mode with
a bounded number of metadata read attempts: HDF5 retries a metadata read whose
checksum fails up to 100 times with growing pauses (a reader may have caught a writer
mid-write), which makes a damaged file look like a hang; four attempts are enough for
a live writer. h5py does not expose the setting, so it is set through HDF5's C API
(``H5Pset_metadata_read_attempts``) on h5py's own copy of the library.
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np

SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: metadata read attempts of a reader (HDF5's default for SWMR readers is 100)
READ_ATTEMPTS = 4
_hdf5 = {}


class NotARunError(ValueError):
    """The file exists but is not an intact particles run."""


def _hdf5_library():
    """ctypes handle on the HDF5 library h5py has loaded (None if it cannot be found)."""
    if "lib" not in _hdf5:
        import ctypes

        import h5py  # noqa: F401 - loads the library

        lib = None
        try:
            with open("/proc/self/maps") as fh:
                paths = {line.split()[-1] for line in fh if "libhdf5" in line}
            for path in sorted(paths):
                name = os.path.basename(path)
                if name.startswith("libhdf5") and not name.startswith("libhdf5_hl"):
                    cand = ctypes.CDLL(path)
                    if hasattr(cand, "H5Pset_metadata_read_attempts"):
                        lib = cand
                        lib.H5Pset_metadata_read_attempts.argtypes = [ctypes.c_int64,
                                                                      ctypes.c_uint]
                        break
        except OSError:
            lib = None
        _hdf5["lib"] = lib
    return _hdf5["lib"]


def open_run(path):
    """Open ``path`` read-only (SWMR, no file locking, few metadata read attempts)."""
    import h5py

    lib = _hdf5_library()
    if lib is None:  # pragma: no cover - not Linux, or a static HDF5
        return h5py.File(path, "r", swmr=True, locking=False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_file_locking(False, True)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
    if lib.H5Pset_metadata_read_attempts(fapl.id, READ_ATTEMPTS) < 0:
        raise OSError("H5Pset_metadata_read_attempts failed")
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ,
                        fapl=fapl)
    return h5py.File(fid)


def end_of_file_address(path):
    """The end-of-file address recorded in the HDF5 superblock of ``path`` (bytes)."""
    with open(path, "rb") as fh:
        head = fh.read(96)
    if len(head) < 16 or head[:8] != SIGNATURE:
        raise NotARunError(f"{path!r} is not an HDF5 file (no HDF5 signature at the start)")
    version = head[8]
    if version in (2, 3):
        size = head[9]
        start = 12 + 2 * size  # base address, superblock extension address
    elif version in (0, 1):
        size = head[13]
        start = 24 + (4 if version == 1 else 0) + 2 * size  # base, free-space addresses
    else:
        raise NotARunError(f"{path!r} has an unknown HDF5 superblock version {version}")
    if size not in (2, 4, 8) or len(head) < start + size:
        raise NotARunError(f"{path!r} has a damaged HDF5 superblock (size of offsets {size})")
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[size]
    return struct.unpack(fmt, head[start:start + size])[0]


def check_size(path):
    """Refuse a file shorter than its superblock says (truncated or cut off)."""
    eoa = end_of_file_address(path)
    size = os.path.getsize(path)
    if size < eoa:
        raise NotARunError(f"{path!r} is truncated: {size} bytes of the {eoa} its HDF5 "
                           f"superblock records ({100 * size / max(eoa, 1):.0f} %); "
                           "it cannot be read safely")


def _walk(group, path, where=""):
    import h5py

    for name in group:
        link = group.get(name, getlink=True)
        full = f"{where}/{name}"
        if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
            raise NotARunError(f"{path!r} has a {type(link).__name__} at {full}; a run file "
                               "holds no links to other objects or files")
        obj = group[name]
        if isinstance(obj, h5py.Group):
            _walk(obj, path, full)
        elif isinstance(obj, h5py.Dataset):
            if obj.external or obj.is_virtual:
                kind = "external storage" if obj.external else "a virtual dataset"
                raise NotARunError(f"{path!r} has {kind} at {full}; a run file is "
                                   "self-contained")


def _need(f, path, name, ndim=None, shape=None, kind=None):
    if name not in f:
        raise NotARunError(f"{path!r} lacks {name}; it is damaged or not a particles run")
    ds = f[name]
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise NotARunError(f"{path!r}: {name} is not a dataset")
    if ndim is not None and ds.ndim != ndim:
        raise NotARunError(f"{path!r}: {name} has {ds.ndim} dimensions, expected {ndim}")
    if shape is not None and any(s is not None and s != t for s, t in zip(shape, ds.shape)):
        raise NotARunError(f"{path!r}: {name} has shape {ds.shape}, expected "
                           f"{tuple('*' if s is None else s for s in shape)}")
    if kind is not None and ds.dtype.kind not in kind:
        raise NotARunError(f"{path!r}: {name} has dtype {ds.dtype}, expected {kind!r} kind")
    return ds


def _attr(group, path, name, cast):
    try:
        return cast(group.attrs[name])
    except KeyError:
        raise NotARunError(f"{path!r} lacks the attribute {group.name}:{name}") from None
    except (TypeError, ValueError) as exc:
        raise NotARunError(f"{path!r}: attribute {group.name}:{name} is invalid ({exc})") from None


def check_structure(f, path, records=True):
    """Check an open run file; returns the parsed header (dict).

    With ``records`` False the records and the checkpoint are not read (a file whose
    run will be restarted from its initial state needs only its header).

    Returns
    -------
    dict
        ``config`` (dict), ``m``, ``d``, ``dt``, ``n_steps``, ``versions`` (dict).
    """
    try:
        creator = f["h5md/creator"].attrs["name"]
    except KeyError:
        raise NotARunError(f"{path!r} is not a particles run (no H5MD creator)") from None
    creator = creator.decode() if isinstance(creator, bytes) else str(creator)
    if creator != "particles":
        raise NotARunError(f"{path!r} was written by {creator!r}, not particles")
    _walk(f, path)
    if "parameters" not in f:
        raise NotARunError(f"{path!r} lacks /parameters; it is damaged or not a particles run")
    par = f["parameters"]
    head = {"config": _attr(par, path, "config", json.loads),
            "versions": _attr(par, path, "versions", json.loads),
            "m": _attr(par, path, "m", int), "d": _attr(par, path, "d", int),
            "dt": _attr(par, path, "dt", float), "n_steps": _attr(par, path, "n_steps", int)}
    m, d = head["m"], head["d"]
    if not (m >= 1 and d >= 1 and np.isfinite(head["dt"]) and head["dt"] > 0
            and head["n_steps"] >= 1):
        raise NotARunError(f"{path!r}: parameters m={m}, d={d}, dt={head['dt']}, "
                           f"n_steps={head['n_steps']} are invalid")
    if not isinstance(head["config"], dict):
        raise NotARunError(f"{path!r}: /parameters config is not a table")
    k = d + 2
    _need(f, path, "particles/neurons/position/value", 3, (None, m, k), "f")
    for name in ("step", "time"):
        _need(f, path, f"particles/neurons/position/{name}", 1, None, "iuf")
    _need(f, path, "parameters/theta0", 2, (m, k), "f")
    _need(f, path, "parameters/checkpoint/theta", 3, (2, m, k), "f")
    _need(f, path, "parameters/checkpoint/state", 1, (2,), "S")
    active = _need(f, path, "parameters/checkpoint/active", 0, None, "iu")
    if int(active[()]) not in (0, 1):
        raise NotARunError(f"{path!r}: checkpoint slot {int(active[()])} is invalid "
                           "(allowed: 0 or 1)")
    if "particles/teacher/position" in f:
        _need(f, path, "particles/teacher/position", 2, (None, k), "f")
    if "observables" not in f:
        raise NotARunError(f"{path!r} lacks /observables")
    for name in f["observables"]:
        for key in ("step", "time", "value"):
            _need(f, path, f"observables/{name}/{key}", 1, None, "iuf")
    if not records:
        return head
    state = _check_records(f, path)
    if state.get("status", "running") != "running" and not writer_alive(path):
        # a run that ended (complete, stopped, diverged, interrupted) closed its file
        # cleanly; a killed one ("running", no writer) may hold a half-appended record
        _check_lengths(f, path)
    return head


def writer_alive(path):
    """Whether another live process holds the writer lock of ``path`` (never takes it;
    this process's own lock, held by a resume that reads the file, does not count)."""
    import fcntl

    try:
        fd = os.open(os.fspath(path) + ".lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = int(os.pread(fd, 32, 0).decode().strip() or 0)
        except (OSError, ValueError):
            holder = 0
        return holder != os.getpid()
    finally:
        os.close(fd)
    return False


def _check_lengths(f, path):
    # a file closed by its writer has as many steps as times as values per element;
    # while a writer appends (or if it was killed), values lead times lead steps
    groups = [("particles/neurons/position", f["particles/neurons/position"])]
    groups += [(f"observables/{n}", f["observables"][n]) for n in f["observables"]]
    for name, g in groups:
        sizes = [g[key].shape[0] for key in ("step", "time", "value")]
        if len(set(sizes)) != 1:
            raise NotARunError(f"{path!r} is damaged: {name} has {sizes[0]} steps, "
                               f"{sizes[1]} times and {sizes[2]} values")
    obs = [g for name, g in groups[1:]]
    if obs and len({g["step"].shape[0] for g in obs}) != 1:
        raise NotARunError(f"{path!r} is damaged: its observables have different numbers "
                           "of records")


def _check_records(f, path):
    """Read what every reader relies on (indexes, last records, checkpoint) once."""
    name = "the records"
    try:
        name = "the checkpoint"
        ck = f["parameters/checkpoint"]
        active = int(ck["active"][()])
        raw = ck["state"][active]
        state = json.loads(raw.decode()) if raw else {}
        ck["theta"][active]
        name = "the frames"
        pos = f["particles/neurons/position"]
        steps = pos["step"][:]
        n = min(steps.size, pos["time"].shape[0], pos["value"].shape[0])
        if n:
            pos["value"][n - 1]
            pos["time"][n - 1]
        for obs in f["observables"]:
            name = f"the observable {obs!r}"
            g = f["observables"][obs]
            g["step"][:]
            k = min(g[key].shape[0] for key in ("step", "time", "value"))
            if k:
                g["value"][k - 1]
                g["time"][k - 1]
    except (OSError, ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
        raise NotARunError(f"{path!r} is damaged: {name} cannot be read "
                           f"({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(state, dict):
        raise NotARunError(f"{path!r} is damaged: its checkpoint state is not a table")
    step = state.get("step", 0)
    n_steps = int(f["parameters"].attrs["n_steps"])
    t_end = state.get("t_end")
    dt = float(f["parameters"].attrs["dt"])
    target = n_steps
    if isinstance(t_end, (int, float)) and np.isfinite(t_end) and t_end > 0:
        target = max(target, int(round(t_end / dt)))
    if not isinstance(step, int) or not 0 <= step <= target:
        raise NotARunError(f"{path!r} is damaged: its checkpoint is at step {step!r}, "
                           f"outside the run's 0..{target}")
    return state


def check_all(f, path, spare=True):
    """Read every record, the checkpoint and the problem data once (checksums verified);
    with ``spare``, the spare checkpoint slot too (:func:`check_slots`).

    Returns
    -------
    dict
        ``frames``, ``observables`` (record counts) and ``checksummed`` (datasets with a
        Fletcher-32 checksum; files of version 0.1 have none).
    """
    import h5py

    counts = {"frames": 0, "observables": 0, "checksummed": 0, "datasets": 0}
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset)
                 else None)
    active = int(f["parameters/checkpoint/active"][()])
    for name in names:
        ds = f[name]
        counts["datasets"] += 1
        counts["checksummed"] += bool(ds.fletcher32)
        try:
            if name.startswith("parameters/checkpoint/") and ds.ndim >= 1:
                ds[active]  # the spare slot is read by check_slots, with its own message
            elif ds.ndim >= 2 and ds.shape[0] > 1:
                for i in range(ds.shape[0]):  # one record at a time: bounded memory
                    row = ds[i]
                    if row.dtype.kind == "f" and not np.all(np.isfinite(row)) \
                            and name.endswith("position/value"):
                        raise NotARunError(f"{path!r} is damaged: frame {i} of {name} holds "
                                           "NaN or Inf")
            else:
                ds[()]
        except OSError as exc:
            raise NotARunError(f"{path!r} is damaged: {name} cannot be read "
                               f"({str(exc).splitlines()[0][:120]})") from None
    check_slots(f, path, spare)
    counts["frames"] = f["particles/neurons/position/step"].shape[0]
    counts["observables"] = len(f["observables"])
    return counts


def check_slots(f, path, spare=True):
    """Read both checkpoint slots back (checksums verified); NotARunError naming the
    slot when one cannot be read.

    The spare slot is where the next checkpoint goes: a file whose spare slot is damaged
    (a flipped byte, a cut write) would fail the next write into it, so commands that
    write into a run file refuse it first (``particles resume`` rewrites the file whole
    and repairs it).
    """
    ck = f["parameters/checkpoint"]
    active = int(ck["active"][()])
    for slot in (active, 1 - active) if spare else (active,):
        which = "active" if slot == active else "spare"
        try:
            ck["theta"][slot]
            ck["state"][slot]
        except OSError as exc:
            raise NotARunError(f"{path!r} is damaged: the {which} checkpoint slot ({slot}) "
                               f"cannot be read ({str(exc).splitlines()[0][:120]}); "
                               + ("`particles resume` rewrites the file and repairs it"
                                  if which == "spare" else "`particles resume --salvage` "
                                  "may recover the records")) from None
