import numpy as np
import pytest

import naive
from particles.kernels.bvn import bvn_cdf, bvn_cdf_array


@pytest.mark.parametrize("r", [-1.0, -0.999999, -0.99, -0.93, -0.9, -0.6, -0.2, 0.0, 0.1, 0.5,
                               0.8, 0.924, 0.926, 0.99, 0.99999, 1.0])
def test_bivariate_cdf_against_scipy(r, rng):
    hk = rng.normal(0, 2, (15, 2))
    for h, k in hk:
        np.testing.assert_allclose(bvn_cdf(h, k, r), naive.bvn_cdf(h, k, r), rtol=0, atol=2e-14)


def test_infinite_limits_and_array():
    np.testing.assert_allclose(bvn_cdf(np.inf, np.inf, 0.3), 1.0)
    np.testing.assert_allclose(bvn_cdf(-np.inf, 0.0, 0.3), 0.0)
    np.testing.assert_allclose(bvn_cdf(np.inf, 0.0, 0.3), 0.5)
    h = np.array([0.0, 0.5])
    out = np.empty(2)
    bvn_cdf_array(h, h, np.array([0.5, -0.5]), out)
    np.testing.assert_allclose(out[0], 0.25 + np.arcsin(0.5) / (2 * np.pi), atol=1e-15)
