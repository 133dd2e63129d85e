"""`import particles` is fast and compiles nothing; configurations and run files are
read without loading Numba."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("numba", "scipy", "matplotlib", "h5py")


def _loaded_after(code):
    """Which of HEAVY a fresh interpreter has loaded after running ``code``."""
    probe = code + "\nimport sys\nprint(' '.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, check=True).stdout.split("\n")
    return set(out[-2].split())


def test_import_is_light():
    assert _loaded_after("import particles") == set()


def test_configuration_does_not_load_numba():
    code = ("import particles as pt\n"
            "c = pt.Config(network=pt.NetworkConfig(m=8))\n"
            "d = pt.to_dict(c); pt.from_dict(d)\n"
            "from particles.config import load_toml\n"
            f"load_toml({os.path.join(ROOT, 'particles', 'data', 'default.toml')!r})\n")
    assert _loaded_after(code) == set()


def test_reading_a_run_file_does_not_load_numba(tmp_path):
    import particles as pt

    path = tmp_path / "run.h5"
    cfg = pt.Config(network=pt.NetworkConfig(m=4), integrator=pt.IntegratorConfig(t_end=1.0))
    pt.run(cfg, str(path), progress=None)
    code = ("import particles as pt\n"
            f"r = pt.load({str(path)!r})\n"
            "r.observable('risk'); r.frame(len(r.steps) - 1); r.config; r.problem()\n"
            "assert r.observable('risk')[2].size > 1\n")
    loaded = _loaded_after(code)
    assert "numba" not in loaded and "scipy" not in loaded and "h5py" in loaded


@pytest.mark.slow
def test_import_is_fast():
    # wall clock: in the slow group (flaky next to a busy process)
    code = ("import time; t = time.perf_counter(); import particles; "
            "print(time.perf_counter() - t)")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert float(out) < 1.0


def test_public_api_resolves():
    import particles as pt

    for name in pt.__all__:
        assert getattr(pt, name) is not None
    assert callable(pt.simulate) and callable(pt.run) and callable(pt.load)
