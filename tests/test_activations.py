import numpy as np
import pytest

import naive
from particles.registry import ACTIVATIONS, activation_code
from particles.kernels.activations import evaluate


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_against_naive(name, dtype, rng):
    z = (3 * rng.standard_normal(1000)).astype(dtype)
    z[:3] = [0.0, 40.0, -40.0]
    outs = [np.empty(z.size) for _ in range(3)]
    evaluate(activation_code(name), z, 0.1, *outs)
    # one scalar function, no reduction: tighter than conftest.RTOL for float32
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for order in range(3):
        ref = naive.sigma(name, z.astype(np.float64), 0.1, order)
        np.testing.assert_allclose(outs[order], ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "erf", "softplus"])
def test_derivatives_by_finite_differences(name, rng):
    z = rng.uniform(-4, 4, 200)
    e = 1e-6
    f = [np.empty(z.size) for _ in range(3)]
    fp = [np.empty(z.size) for _ in range(3)]
    fm = [np.empty(z.size) for _ in range(3)]
    code = activation_code(name)
    evaluate(code, z, 0.0, *f)
    evaluate(code, z + e, 0.0, *fp)
    evaluate(code, z - e, 0.0, *fm)
    np.testing.assert_allclose(f[1], (fp[0] - fm[0]) / (2 * e), atol=1e-8)
    np.testing.assert_allclose(f[2], (fp[1] - fm[1]) / (2 * e), atol=1e-8)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="activation='gelu' is unknown; allowed: relu"):
        activation_code("gelu")
    with pytest.raises(TypeError, match="activation must be a string"):
        activation_code(3)
