"""The hostile user, on the newer commands: sweep, figure, polish and certify.

Every case is bad input. Each must end with exit status 2 and one line on stderr, before
any work, and leave every file as it was (no output directory, no lock, the run file
unchanged). The counts are printed by ``test_command_fuzz_counts`` (``-s``).
"""
import hashlib
import os

import numpy as np
import pytest

import particles as pt
from particles.cli import main

BASE_TOML = """
[network]
m = 4
[integrator]
dt = 0.05
t_end = 0.1
[record]
kernel_probes = 0
"""

#: bad [sweep] tables (TOML lines)
SWEEP_CASES = {
    "grid not a table": 'grid = 3',
    "grid list empty": 'grid = { "init.tau" = [] }',
    "grid value not a list": 'grid = { "init.tau" = 3 }',
    "grid empty key": 'grid = { "" = [1] }',
    "grid unknown key": 'grid = { "network.bogus" = [1] }',
    "grid unknown section": 'grid = { "bogus.m" = [1] }',
    "grid bad value": 'grid = { "network.m" = [-1] }',
    "grid wrong type": 'grid = { "network.m" = ["x"] }',
    "grid sets the seed": 'grid = { "seed" = [1, 2] }',
    "grid sets init.seed": 'grid = { "init.seed" = [1, 2] }',
    "grid sets problem.seed": 'grid = { "problem.seed" = [1, 2] }',
    "grid bad cross rule": 'grid = { "integrator.method" = ["sgd"] }',
    "grid bad temperature": 'grid = { "integrator.temperature" = [-1.0] }',
    "grid temperature with rk45": 'grid = { "integrator.method" = ["rk45"] }\n'
                                  'zip = { "integrator.temperature" = [0.1] }',
    "zip lengths differ": 'zip = { "init.tau" = [0.1, 0.2], "network.m" = [4] }',
    "key in grid and zip": 'grid = { "init.tau" = [0.1] }\nzip = { "init.tau" = [0.2] }',
    "nothing swept": 'trials = 1',
    "trials zero": 'trials = 0',
    "trials negative": 'trials = -1',
    "trials float": 'trials = 1.5',
    "trials text": 'trials = "x"',
    "trials bool": 'trials = true',
    "trials huge": 'trials = 1000000000',
    "grid huge": 'grid = { "init.tau" = [' + ", ".join(["0.1"] * 1001) + '], '
                 '"network.m" = [' + ", ".join(["4"] * 1001) + '] }',
    "seed negative": 'trials = 2\nseed = -1',
    "seed text": 'trials = 2\nseed = "x"',
    "seed float": 'trials = 2\nseed = 1.5',
    "seeds not a table": 'trials = 2\nseeds = 3',
    "seeds unknown key": 'trials = 2\nseeds = { bogus = "trial" }',
    "seeds bad choice": 'trials = 2\nseeds = { init = "bogus" }',
    "name empty": 'trials = 2\nname = ""',
    "name with slash": 'trials = 2\nname = "a/b"',
    "name with colon": 'trials = 2\nname = "a:b"',
    "name not text": 'trials = 2\nname = 3',
    "post without colon": 'trials = 2\npost = "nocolon"',
    "post unknown module": 'trials = 2\npost = "no_such_module_xyz:f"',
    "post unknown function": 'trials = 2\npost = "os.path:no_such_function"',
    "post not callable": 'trials = 2\npost = "math:pi"',
    "post not text": 'trials = 2\npost = 3',
    "unknown sweep key": 'trials = 2\nbogus = 1',
    "grid key not dotted": 'grid = { "m" = [1] }',
    "grid key a section": 'grid = { "network" = [1] }',
    "zip value not a list": 'zip = { "init.tau" = 0.1 }',
    "zip list empty": 'zip = { "init.tau" = [] }',
}

#: whole sweep files that are wrong (not the [sweep] table's values)
SWEEP_FILES = {
    "no sweep table": BASE_TOML,
    "sweep not a table": BASE_TOML.replace("[record]", "sweep = 3\n[record]"),
    "base config invalid": BASE_TOML.replace("m = 4", "m = -4") + "[sweep]\ntrials = 2\n",
    "not TOML": "[sweep\ntrials = 2\n",
}

#: bad command lines of sweep (the spec is valid), figure
SWEEP_ARGV = {
    "workers zero": ["--workers", "0"],
    "workers negative": ["--workers", "-1"],
    "workers text": ["--workers", "abc"],
    "workers float": ["--workers", "1.5"],
}
FIGURE_ARGV = {
    "unknown figure": ["figure", "nope"],
    "figure empty output": ["figure", "langevin", "--quick", "-o", ""],
    "figure workers zero": ["figure", "langevin", "--quick", "--workers", "0"],
    "figure workers text": ["figure", "langevin", "--quick", "--workers", "x"],
    "figure output is a file": ["figure", "langevin", "--quick", "-o", "{file}"],
    "figure output under a file": ["figure", "langevin", "--quick", "-o", "{file}/sub"],
}
#: bad options of polish and certify on a good run file ({run}: its path)
RUN_ARGV = {
    "polish method": ["polish", "{run}", "--method", "bogus"],
    "polish gtol zero": ["polish", "{run}", "--gtol", "0"],
    "polish gtol negative": ["polish", "{run}", "--gtol", "-1"],
    "polish gtol nan": ["polish", "{run}", "--gtol", "nan"],
    "polish gtol inf": ["polish", "{run}", "--gtol", "inf"],
    "polish gtol text": ["polish", "{run}", "--gtol", "abc"],
    "polish gtol underflow": ["polish", "{run}", "--gtol", "1e-400"],
    "certify starts zero": ["certify", "{run}", "--starts", "0"],
    "certify starts negative": ["certify", "{run}", "--starts", "-5"],
    "certify starts huge": ["certify", "{run}", "--starts", "1000000000000"],
    "certify starts text": ["certify", "{run}", "--starts", "abc"],
    "certify starts float": ["certify", "{run}", "--starts", "1.5"],
    "certify grow exists": ["certify", "{run}", "--grow", "{run}"],
    "certify grow directory": ["certify", "{run}", "--grow", "{dir}"],
    "certify grow missing dir": ["certify", "{run}", "--grow", "{dir}/missing/g.h5"],
    "certify grow empty": ["certify", "{run}", "--grow", ""],
    "certify t-end negative": ["certify", "{run}", "--grow", "{dir}/g.h5", "--t-end", "-1"],
    "certify t-end zero": ["certify", "{run}", "--grow", "{dir}/g.h5", "--t-end", "0"],
    "certify t-end nan": ["certify", "{run}", "--grow", "{dir}/g.h5", "--t-end", "nan"],
    "certify t-end inf": ["certify", "{run}", "--grow", "{dir}/g.h5", "--t-end", "inf"],
    "certify t-end text": ["certify", "{run}", "--grow", "{dir}/g.h5", "--t-end", "x"],
}
#: files that are not run files, for polish and certify
BAD_FILES = ("missing", "directory", "text", "empty", "not a run", "truncated 10%",
             "truncated 50%", "truncated 90%", "header zeroed", "checkpoint nan",
             "checkpoint time text", "spare slot flipped")


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.isfile(path) else None


def _snapshot(folder):
    return {name: _digest(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    path = folder / "good.h5"
    pt.run(pt.Config(network=pt.NetworkConfig(m=4),
                     integrator=pt.IntegratorConfig(dt=0.05, t_end=0.2),
                     record=pt.RecordConfig(kernel_probes=0)), path)
    return path


def _refused(argv, capsys, folder):
    before = _snapshot(folder)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    after = _snapshot(folder)
    return code == 2 and len(err) == 1 and err[0].startswith("error:") and before == after, \
        (code, err, sorted(set(after) ^ set(before)))


@pytest.mark.parametrize("case", sorted(SWEEP_CASES))
def test_bad_sweep_spec(case, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(BASE_TOML + "[sweep]\n" + SWEEP_CASES[case] + "\n")
    ok, why = _refused(["sweep", spec, "-o", tmp_path / "out", "--workers", "1"], capsys,
                       tmp_path)
    assert ok, why


@pytest.mark.parametrize("case", sorted(SWEEP_FILES))
def test_bad_sweep_file(case, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SWEEP_FILES[case])
    ok, why = _refused(["sweep", spec, "-o", tmp_path / "out", "--workers", "1"], capsys,
                       tmp_path)
    assert ok, why


@pytest.mark.parametrize("case", sorted(SWEEP_ARGV))
def test_bad_sweep_argv(case, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(BASE_TOML + "[sweep]\ntrials = 2\n")
    ok, why = _refused(["sweep", spec, "-o", tmp_path / "out"] + SWEEP_ARGV[case], capsys,
                       tmp_path)
    assert ok, why


@pytest.mark.parametrize("case", sorted(FIGURE_ARGV))
def test_bad_figure_argv(case, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    argv = [a.replace("{file}", str(tmp_path / "afile")) for a in FIGURE_ARGV[case]]
    ok, why = _refused(argv, capsys, tmp_path)
    assert ok, why


@pytest.mark.parametrize("case", sorted(RUN_ARGV))
def test_bad_polish_certify_argv(case, good_run, tmp_path, capsys):
    run = tmp_path / "r.h5"
    run.write_bytes(good_run.read_bytes())
    argv = [a.replace("{run}", str(run)).replace("{dir}", str(tmp_path))
            for a in RUN_ARGV[case]]
    ok, why = _refused(argv, capsys, tmp_path)
    assert ok, why


def _bad_file(kind, good_run, folder):
    path = folder / "bad.h5"
    raw = good_run.read_bytes()
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("not hdf5\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not a run":
        import h5py

        with h5py.File(path, "w") as f:
            f["x"] = np.arange(3)
    elif kind.startswith("truncated"):
        frac = int(kind.split()[1].rstrip("%")) / 100
        path.write_bytes(raw[: int(len(raw) * frac)])
    elif kind == "header zeroed":
        path.write_bytes(b"\0" * 512 + raw[512:])
    else:
        import json

        import h5py

        path.write_bytes(raw)
        with h5py.File(path, "r+") as f:
            ck = f["parameters/checkpoint"]
            slot = int(ck["active"][()])
            if kind == "checkpoint nan":
                theta = ck["theta"][slot]
                theta[0, 0] = np.nan
                ck["theta"][slot] = theta
            elif kind == "checkpoint time text":
                state = json.loads(ck["state"][slot].decode())
                state["time"] = "abc"
                ck["state"][slot] = np.bytes_(json.dumps(state).encode())
            spare = ck["theta"].id.get_chunk_info_by_coord((1 - slot, 0, 0)).byte_offset
        if kind == "spare slot flipped":
            with open(path, "r+b") as fh:
                fh.seek(spare + 5)
                b = fh.read(1)
                fh.seek(spare + 5)
                fh.write(bytes([b[0] ^ 0xFF]))
    return path


@pytest.mark.parametrize("command", ["polish", "certify"])
@pytest.mark.parametrize("kind", BAD_FILES)
def test_polish_certify_refuse_bad_files(command, kind, good_run, tmp_path, capsys):
    path = _bad_file(kind, good_run, tmp_path)
    ok, why = _refused([command, path], capsys, tmp_path)
    assert ok, why


def test_command_fuzz_counts():
    n = (len(SWEEP_CASES) + len(SWEEP_FILES) + len(SWEEP_ARGV) + len(FIGURE_ARGV)
         + len(RUN_ARGV) + 2 * len(BAD_FILES))
    print(f"command fuzz: {n} cases (sweep spec {len(SWEEP_CASES)}, sweep files "
          f"{len(SWEEP_FILES)}, sweep argv "
          f"{len(SWEEP_ARGV)}, figure {len(FIGURE_ARGV)}, polish/certify options "
          f"{len(RUN_ARGV)}, polish/certify files {2 * len(BAD_FILES)})")
    assert n >= 100
