"""Fuzzing the command line with bad configs and damaged run files.

Every bad config (>= 200, generated from the schema) and every damaged file (>= 100,
generated from a good run: truncations, bit flips, deleted, reshaped and retyped
datasets, tampered attributes) must end with exit status 2 and one line on stderr,
quickly, without writing anything or changing the input; or, for a file whose damage
hit bytes no reader uses, read back exactly the good file's records.
"""
import dataclasses
import hashlib
import math
import os
import shutil
import time

import h5py
import numpy as np
import pytest

import particles as pt
from particles import config as C
from particles.cli import main

# always-invalid values per field type (the validators reject each for every field)
BAD_BY_TYPE = {
    "int": ["x", 1.5, True, [1], {"a": 1}, -5],
    "float": ["x", True, [1.0], math.nan, math.inf, -1e9],
    "str": ["bogus", 3, True, []],
    "bool": ["yes", 1, []],
}


def _field_kind(cls, name):
    value = getattr(cls(), name)
    ann = str(cls.__dataclass_fields__[name].type)
    if "Tuple" in ann:
        return None  # record.times: covered by its own cases below
    if isinstance(value, bool) or ann == "bool":
        return "bool"
    if "float" in ann:
        return "float"
    if "int" in ann:
        return "int"
    if "str" in ann and name not in ("data", "path", "teacher_activation"):
        return "str"
    return None


def _bad_configs():
    base = C.to_dict(pt.Config(integrator=pt.IntegratorConfig(t_end=0.1)))
    cases = []
    for section, cls in C._SECTIONS.items():
        for f in dataclasses.fields(cls):
            kind = _field_kind(cls, f.name)
            for bad in BAD_BY_TYPE.get(kind, []):
                cases.append((f"{section}.{f.name}={bad!r}", section, f.name, bad))
        cases.append((f"{section}.bogus", section, "bogus", 1))
    for name, kind in (("seed", "int"), ("threads", "int"), ("dtype", "str")):
        for bad in BAD_BY_TYPE[kind]:
            cases.append((f"{name}={bad!r}", None, name, bad))
    cases += [("unknown section", None, "bogus_section", {"a": 1}),
              ("section not a table", None, "network", 3),
              ("sgd without online", "integrator", "method", "sgd"),
              ("exact with logistic", "problem", "loss", "logistic"),
              ("odd m with symmetric", "init", "symmetric", True),
              ("dt above t_end", "integrator", "dt", 5.0),
              ("times not increasing", "record", "times", [2.0, 1.0]),
              ("temperature with rk45", "integrator", "temperature", 0.1),
              ("temperature with heun", "integrator", "temperature", 0.1),
              ("log schedule at T = 0", "integrator", "temperature_schedule", "log")]
    out = []
    for label, section, key, bad in cases:
        data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        if section is None:
            data[key] = bad
        else:
            data[section][key] = bad
            if label == "odd m with symmetric":
                data["network"]["m"] = 7
            if label == "times not increasing":
                data["record"]["schedule"] = "times"
            if label.startswith("temperature with "):
                data["integrator"]["method"] = label.split()[-1]
        out.append((label, data))
    return out


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else
                                             ("-inf" if v == -math.inf else repr(v)))
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


def _write_toml(data, path):
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    path.write_text("\n".join(lines) + "\n")


BAD_CONFIGS = _bad_configs()


def _run_cli(capsys, argv):
    """Exit status, stderr lines and wall time of ``particles ARGV`` in this process."""
    t = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - t
    err = capsys.readouterr().err.strip().splitlines()
    return code, err, elapsed


def test_at_least_200_bad_configs():
    assert len(BAD_CONFIGS) >= 200


def test_bad_configs_exit_2_with_one_line(tmp_path, capsys):
    failures = []
    for k, (label, data) in enumerate(BAD_CONFIGS):
        path = tmp_path / f"c{k}.toml"
        _write_toml(data, path)
        out = tmp_path / "out" / f"r{k}.h5"
        code, err, elapsed = _run_cli(capsys, ["run", str(path), "-o", str(out),
                                                        "--no-animate", "-q"])
        if not (code == 2 and len(err) == 1 and err[0].startswith("error: ")):
            failures.append((label, code, err[:2]))
    assert not failures, failures
    assert not (tmp_path / "out").exists()  # nothing written for any of them


@pytest.mark.slow
def test_bad_configs_are_refused_within_two_seconds(tmp_path, capsys):
    # wall clock: in the slow group (flaky next to a busy process)
    slow = []
    for k, (label, data) in enumerate(BAD_CONFIGS):
        path = tmp_path / f"c{k}.toml"
        _write_toml(data, path)
        _, _, elapsed = _run_cli(capsys, ["run", str(path), "-o", str(tmp_path / "r.h5"),
                                          "--no-animate", "-q"])
        if elapsed > 2.0:
            slow.append((label, round(elapsed, 2)))
    assert not slow, slow


def _truncate(frac):
    def damage(path):
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.truncate(int(size * frac))
    return damage


def _flip(position):
    def damage(path):
        size = os.path.getsize(path)
        at = int(position * (size - 1))
        with open(path, "r+b") as fh:
            fh.seek(at)
            b = fh.read(1)
            fh.seek(at)
            fh.write(bytes([b[0] ^ 0x40]))
    return damage


DATASETS = ["particles/neurons/position/value", "particles/neurons/position/step",
            "particles/neurons/position/time", "parameters/theta0",
            "parameters/checkpoint/theta", "parameters/checkpoint/state",
            "parameters/checkpoint/active", "observables/risk/value",
            "observables/risk/step", "observables/distance/time", "particles/teacher/position",
            "h5md/creator"]


def _delete(name):
    def damage(path):
        with h5py.File(path, "r+") as f:
            del f[name]
    return damage


def _reshape(name, dtype=None):
    def damage(path):
        with h5py.File(path, "r+") as f:
            data = f[name][()]
            del f[name]
            arr = np.asarray(data)
            if dtype is not None:
                f[name] = np.zeros(arr.shape, dtype)
            else:
                f[name] = arr.reshape(-1)[:-1] if arr.size > 1 else np.zeros((2, 2))
    return damage


def _attr(group, key, value):
    def damage(path):
        with h5py.File(path, "r+") as f:
            if value is None:
                del f[group].attrs[key]
            else:
                f[group].attrs[key] = value
    return damage


def _tamper_state(**changes):
    def damage(path):
        import json

        with h5py.File(path, "r+") as f:
            ck = f["parameters/checkpoint"]
            slot = int(ck["active"][()])
            state = json.loads(ck["state"][slot].decode())
            state.update(changes)
            ck["state"][slot] = np.bytes_(json.dumps(state).encode())
    return damage


def _damages():
    out = [(f"truncate {f:.2f}", _truncate(f)) for f in np.linspace(0.02, 0.995, 24)]
    out += [(f"flip {p:.3f}", _flip(p)) for p in np.linspace(0.0, 1.0, 48)]
    out += [(f"delete {n}", _delete(n)) for n in DATASETS]
    out += [(f"reshape {n}", _reshape(n)) for n in DATASETS[:8]]
    out += [(f"retype {n}", _reshape(n, "S3")) for n in DATASETS[:5]]
    out += [(f"attr {k}={v!r}", _attr("parameters", k, v))
            for k, v in (("m", None), ("m", 0), ("m", 99), ("d", -1), ("dt", 0.0),
                         ("dt", "x"), ("n_steps", 0), ("config", "{"), ("config", "[]"),
                         ("versions", "x"))]
    out += [("creator", _attr("h5md/creator", "name", "someone")),
            ("config says tanh", _config(network={"activation": "tanh"})),
            ("config says float32", _config(dtype="float32")),
            ("config says sgd", _config(integrator={"method": "sgd"}, oracle={"kind": "online"})),
            ("config says d = 4", _config(problem={"d": 4})),
            ("step 10^12", _tamper_state(step=10 ** 12)),
            ("step -3", _tamper_state(step=-3)),
            ("step 2.5", _tamper_state(step=2.5)),
            ("state not a table", _raw_state(b"[1, 2]")),
            ("state not JSON", _raw_state(b"{oops"))]
    return out


def _config(**changes):
    def damage(path):
        import json

        with h5py.File(path, "r+") as f:
            cfg = json.loads(f["parameters"].attrs["config"])
            for key, value in changes.items():
                if isinstance(value, dict):
                    cfg[key].update(value)
                else:
                    cfg[key] = value
            f["parameters"].attrs["config"] = json.dumps(cfg)
    return damage


def _raw_state(raw):
    def damage(path):
        with h5py.File(path, "r+") as f:
            ck = f["parameters/checkpoint"]
            ck["state"][int(ck["active"][()])] = np.bytes_(raw)
    return damage


DAMAGES = _damages()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    cfg = pt.Config(problem=pt.ProblemConfig(d=3, m0=2), network=pt.NetworkConfig(m=8),
                    integrator=pt.IntegratorConfig(dt=0.01, t_end=1.0),
                    record=pt.RecordConfig(schedule="every", every=10),
                    output=pt.OutputConfig(flush_seconds=0.0), seed=3)
    path = d / "good.h5"
    pt.run(cfg, path)
    # a run stopped half way, so that resume has work to do
    half = d / "half.h5"
    pt.run(cfg, half, interrupted=lambda: True)
    return path, half


def _records(path):
    with pt.load(path) as run:
        return ([run.frame(k) for k in range(len(run))],
                {n: run.observable(n)[2] for n in run.observable_names}, run.checkpoint())


def test_damaged_files_exit_2_or_read_back_exactly(good, tmp_path, capsys):
    good_path, half = good
    refs = {good_path: _records(good_path), half: _records(half)}
    failures = []
    applied = 0
    for k, (label, damage) in enumerate(DAMAGES):
        src = half if label.startswith(("step", "config says", "state")) else good_path
        path = tmp_path / f"d{k}.h5"
        shutil.copy(src, path)
        try:
            damage(path)
        except (KeyError, OSError, ValueError):
            continue  # this damage does not apply to this file
        applied += 1
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        for argv in (["info", str(path), "--check"], ["resume", str(path), "-q"]):
            code, err, _ = _run_cli(capsys, argv)
            if code == 2:
                if not (len(err) == 1 and err[0].startswith("error: ")):
                    failures.append((label, argv[0], err[:2]))
                if hashlib.sha256(path.read_bytes()).hexdigest() != before:
                    failures.append((label, argv[0], "input changed"))
                continue
            if argv[0] == "resume" and src == half:
                failures.append((label, "resume", f"exit {code}: a tampered file was resumed"))
                continue
            if code != 0:
                failures.append((label, argv[0], code, err[:2]))
                continue
            # accepted: the damage hit bytes nobody reads; the records must be exact
            frames, obs, _ = _records(path)
            ref_frames, ref_obs, _ = refs[src]
            same = (len(frames) == len(ref_frames)
                    and all(np.array_equal(a, b) for a, b in zip(frames, ref_frames))
                    and all(np.array_equal(obs[n], ref_obs[n]) for n in ref_obs))
            if not same:
                failures.append((label, argv[0], "silently misread"))
        leftovers = [p for p in os.listdir(tmp_path) if p.endswith((".tmp", ".lock"))]
        if leftovers:
            failures.append((label, "leftovers", leftovers))
    assert not failures, failures
    assert applied >= 100, f"only {applied} of {len(DAMAGES)} damages applied"
