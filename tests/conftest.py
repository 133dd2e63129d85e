import os
import pathlib
import sys

# Compiled kernels are cached inside the checkout (set before Numba is imported).
ROOT = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: relative tolerance of a kernel result against its float64 NumPy twin, per state dtype
#: (test_oracles, test_dynamics: `from conftest import RTOL`)
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture
def rng(request):
    # one Generator per test, seeded from the test's name: no global RNG
    seed = sum(map(ord, request.node.name))
    return np.random.default_rng(seed)
