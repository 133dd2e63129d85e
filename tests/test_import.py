"""`import particles` is fast and compiles nothing."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_is_light_and_fast():
    code = ("import sys, time; t = time.perf_counter(); import particles; "
            "dt = time.perf_counter() - t; "
            "print(dt, 'numba' in sys.modules, 'scipy' in sys.modules, "
            "'matplotlib' in sys.modules, 'h5py' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert float(out[0]) < 1.0
    assert out[1:] == ["False"] * 4


def test_public_api_resolves():
    import particles as pt

    for name in pt.__all__:
        assert getattr(pt, name) is not None
    assert callable(pt.simulate) and callable(pt.run) and callable(pt.load)
