"""The Numba internals particles relies on, one test each (a test fails when a hook
stops working in a new Numba release), the compile-time oracle dispatch, and the
ownership of thread pools."""
import json
import os
import subprocess
import sys
from collections import namedtuple

import numpy as np
import pytest

import particles as pt
from particles._numba.jit import FastCall, jit, package_digest
from particles.kernels.dispatch import register, registered
from particles.oracles.base import Oracle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, cache_dir=None):
    """Run ``code`` in a fresh interpreter (with ``cache_dir`` as its Numba cache, when
    given) and return what it printed."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cache_guard_hook():
    """Cached kernels go stale, and get other file names, when any package file changes."""
    from particles.dynamics.integrators import fixed_steps

    locator = fixed_steps._cache._impl._locator
    assert getattr(locator, "_particles_guard", False)
    assert locator.get_source_stamp()[1] == package_digest()
    assert locator.get_disambiguator().endswith(package_digest()[:12])


def test_thread_pool_launch_hook():
    """ensure_threads starts Numba's pool, with the short spin, before any parallel
    kernel is compiled."""
    out = _python("import os, particles._numba.jit as j, numba.np.ufunc.parallel as p\n"
                  "assert not p._is_initialized\n"
                  "j.ensure_threads()\n"
                  "print(p._is_initialized, os.environ['GOMP_SPINCOUNT'])")
    assert out.split() == ["True", "3000"]


def test_fastcall_hook():
    """After the first call, FastCall calls the compiled overload's entry point."""
    @jit
    def add(x, y):
        return x + 2.0 * y

    call = FastCall(add)
    assert call(1.0, 2.0) == 5.0
    key = (add.typeof_pyval(1.0), add.typeof_pyval(2.0))
    assert call.entry is add.overloads[key].entry_point
    assert call(3.0, 0.5) == add(3.0, 0.5) == 4.0


# an oracle defined outside the package: one data type, one kernel, one registration
QuadraticData = namedtuple("QuadraticData", "scale")


@jit
def _quadratic_velocity(theta, data, out):
    # R = (scale / 2) |theta|^2 / m, so v = -m grad R = -scale theta
    r = 0.0
    for i in range(theta.shape[0]):
        for q in range(theta.shape[1]):
            r += theta[i, q] * theta[i, q]
            out[i, q] = -data.scale * theta[i, q]
    return 0.5 * data.scale * r / theta.shape[0]


register(QuadraticData, _quadratic_velocity)


@pytest.mark.parametrize("method", ["euler", "heun"])
def test_a_new_oracle_is_one_registration(method, rng):
    theta = rng.standard_normal((4, 3))
    oracle = Oracle("quadratic", QuadraticData(0.5), 4, 1, np.float64)
    integ = pt.FixedStep(method, oracle, 0.1)
    state = pt.State(theta.copy())
    rep = integ.advance(state, 10)
    factor = 1 - 0.05 if method == "euler" else 1 - 0.05 + 0.5 * 0.05 ** 2
    np.testing.assert_allclose(state.theta, theta * factor ** 10, rtol=1e-14)
    assert rep.steps == 10 and state.step == 10
    np.testing.assert_allclose(state.time, 1.0, rtol=1e-15)
    assert registered()[QuadraticData] is _quadratic_velocity
    with pytest.raises(ValueError, match="already registered"):
        register(QuadraticData, jit(lambda theta, data, out: 0.0))


def test_a_run_compiles_only_its_oracle():
    out = _python("import particles as pt\n"
                  "from particles.kernels import sampled\n"
                  "cfg = pt.Config(network=pt.NetworkConfig(m=4), "
                  "integrator=pt.IntegratorConfig(dt=0.1, t_end=0.2))\n"
                  "pt.simulate(cfg)\n"
                  "print(len(sampled.sampled_velocity.overloads), "
                  "len(sampled.online_velocity.overloads))")
    assert out.split() == ["0", "0"]


def test_bias_free_relu_compiles_only_its_rows(tmp_path):
    """The kind of student rows is a compile-time constant of the exact kernel: on an
    empty cache, a bias-free ReLU oracle (the default job) compiles the arc-cosine rows
    and neither the biased rows, nor the bivariate normal, nor the general pair
    functions (which made its first run 12 s longer)."""
    code = ("import numpy as np, particles as pt\n"
            "from particles.kernels import exact, pairs, bvn\n"
            "from particles.model.problems import teacher_student\n"
            "from particles.oracles.exact import exact_oracle\n"
            "problem = teacher_student(3, 2, rng=np.random.default_rng(0))\n"
            "oracle = exact_oracle(problem, 5)\n"
            "theta = np.random.default_rng(1).standard_normal((5, 5))\n"
            "risk, v = oracle.velocity(theta)\n"
            "print(type(oracle.data).__name__, len(exact._relu_block.overloads),\n"
            "      *(len(f.overloads) for f in (exact._bias_block, pairs.relu_pair_both,\n"
            "        pairs.erf_pair_both, pairs.leaky_pair_both, pairs.quadrature_pair_both,\n"
            "        bvn.bvn_upper)))\n")
    out = _python(code, cache_dir=tmp_path / "cache")
    assert out.split() == ["ExactReluData", "1", "0", "0", "0", "0", "0", "0"]


def test_blas_limit_covers_scipy_loaded_late():
    """SciPy's OpenBLAS loaded after the limit was installed is limited too."""
    out = _python("import sys, json\n"
                  "from particles._numba.threads import pool_owner\n"
                  "from threadpoolctl import threadpool_info\n"
                  "assert 'scipy' not in sys.modules\n"
                  "with pool_owner():\n"
                  "    import scipy.linalg\n"
                  "    inside = [i['num_threads'] for i in threadpool_info() "
                  "if i['user_api'] == 'blas']\n"
                  "print(json.dumps(inside))")
    inside = json.loads(out)
    assert len(inside) >= 2  # numpy's and scipy's BLAS (both seen)
    assert inside == [1] * len(inside)


def test_a_late_scipy_user_keeps_the_limit_during_a_run():
    """The reported case: a data-set run whose kernels load SciPy after the run began."""
    out = _python("import sys, json, numpy as np\n"
                  "import particles as pt\n"
                  "from threadpoolctl import threadpool_info\n"
                  "from particles._numba import threads as _threads\n"
                  "seen = []\n"
                  "rng = np.random.default_rng(0)\n"
                  "X = rng.standard_normal((300, 40)); y = np.tanh(X[:, 0])\n"
                  "cfg = pt.Config(problem=pt.ProblemConfig(kind='dataset', d=40), "
                  "oracle=pt.OracleConfig(kind='dataset'), network=pt.NetworkConfig(m=8), "
                  "integrator=pt.IntegratorConfig(dt=0.05, t_end=0.2))\n"
                  "def progress(*a):\n"
                  "    seen.extend(i['num_threads'] for i in threadpool_info() "
                  "if i['user_api'] == 'blas')\n"
                  "pt.simulate(cfg, problem=pt.dataset(X, y), progress=progress)\n"
                  "print(json.dumps(seen), 'scipy' in sys.modules)")
    seen, scipy_loaded = out.strip().rsplit(" ", 1)
    assert scipy_loaded == "True"
    assert json.loads(seen) and set(json.loads(seen)) == {1}


def test_available_cores_follows_affinity():
    out = _python("import os\n"
                  "from particles._numba.threads import available_cores\n"
                  "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
                  "print(available_cores())")
    assert out.strip() == "1"


def test_threads_option_and_default(rng):
    from particles._numba.threads import default_threads

    small = pt.Simulation(pt.Config(network=pt.NetworkConfig(m=8)))
    assert default_threads(small.oracle) == 1
    with pytest.raises(pt.ConfigError, match=r"threads=-1 is invalid"):
        pt.Config(threads=-1)
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: 1 and 2 threads cannot be compared")
    cfg = pt.Config(network=pt.NetworkConfig(m=8), threads=2,
                    integrator=pt.IntegratorConfig(dt=0.1, t_end=1.0))
    one = pt.simulate(cfg.replace(threads=1))
    np.testing.assert_array_equal(pt.simulate(cfg).theta, one.theta)


def test_cache_write_guard_hook(tmp_path):
    """A kernel whose cache write finds no room (here a 1-byte file-size limit on an empty
    cache directory) runs and warns once; before the guard its first call raised
    OSError 'File too large' and failed the command."""
    code = (
        "import resource, signal, warnings\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))\n"
        "from particles.kernels.bvn import bvn_cdf\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    p = bvn_cdf(0.0, 0.0, 0.0)\n"
        "print(p, sum('could not be cached (File too large' in str(x.message) for x in w))\n")
    out = _python(code, cache_dir=tmp_path / "cache")
    value, warned = out.split()
    np.testing.assert_allclose(float(value), 0.25, rtol=1e-14)
    assert int(warned) >= 1
