"""Distances between clouds and log-log fits."""
import itertools
import math

import numpy as np
import pytest

from particles.analysis import distances as analysis


def test_w2_exact_equal_sizes_against_brute_force(rng):
    x = rng.standard_normal((6, 3))
    y = rng.standard_normal((6, 3))
    best = min(np.mean(np.sum((x - y[list(p)]) ** 2, 1))
               for p in itertools.permutations(range(6)))
    np.testing.assert_allclose(analysis.w2_exact(x, y), math.sqrt(best), rtol=1e-12)


def test_w2_exact_unequal_sizes_and_zero_distance(rng):
    x = rng.standard_normal((4, 2))
    y = np.repeat(x, 3, axis=0)  # the same measure with 12 atoms
    np.testing.assert_allclose(analysis.w2_exact(x, y), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="multiple"):
        analysis.w2_exact(x, rng.standard_normal((5, 2)))


def test_sliced_w2_is_a_lower_bound_and_exact_in_1d(rng):
    x = rng.standard_normal((8, 3))
    y = rng.standard_normal((16, 3)) + 0.5
    assert analysis.sliced_w2(x, y, 64, rng) <= analysis.w2_exact(x, y) + 1e-12
    a = rng.standard_normal((5, 1))
    b = rng.standard_normal((10, 1))
    np.testing.assert_allclose(analysis.sliced_w2(a, b, 4, rng), analysis.w2_exact(a, b),
                               rtol=1e-12)


def test_fit_loglog_recovers_a_slope(rng):
    m = np.geomspace(10, 1000, 8)
    y = 3.0 * m ** -0.5 * np.exp(0.01 * rng.standard_normal(8))
    fit = analysis.fit_loglog(m, y)
    assert fit["slope_low"] < -0.5 < fit["slope_high"]
    assert fit["slope_high"] - fit["slope_low"] < 0.1
