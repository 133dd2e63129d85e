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


def test_fit_power_offset_recovers_the_law_without_noise():
    m = np.array([16, 32, 64, 128, 256, 512, 4096], float)
    y = 0.25 + 0.4 * m ** -1.0
    fit = analysis.fit_power_offset(m, y, np.full(m.size, 1e-9))
    np.testing.assert_allclose([fit["slope"], fit["y_inf"], fit["coefficient"]],
                               [-1.0, 0.25, 0.4], rtol=1e-6)
    assert fit["slope_high"] - fit["slope_low"] < 1e-4 and fit["dof"] == 4


def test_fit_power_offset_interval_covers_the_truth_at_its_level():
    # the 95 % interval contains the true slope in 95 % of noisy replicates, within the
    # binomial spread of 400 replicates (sd 1.1 %): a biased slope or a wrong standard
    # error (e.g. relative instead of absolute sigma) falls out of [0.92, 0.98]
    rng = np.random.default_rng(11)
    m = np.array([16, 32, 64, 128, 256, 512, 4096], float)
    se = 0.05 / np.sqrt(m) / 6  # the risk's noise of the m-scaling figure, 36 trials
    hits, widths = 0, []
    for _ in range(400):
        y = 0.25 + 0.4 / m + se * rng.standard_normal(m.size)
        fit = analysis.fit_power_offset(m, y, se)
        hits += fit["slope_low"] <= -1.0 <= fit["slope_high"]
        widths.append(fit["slope_high"] - fit["slope_low"])
    assert 0.92 <= hits / 400 <= 0.98
    assert np.median(widths) < 0.5


def test_fit_power_offset_refuses_bad_input():
    m = np.array([1.0, 2.0, 4.0, 8.0])
    with pytest.raises(ValueError, match="at least 4 points"):
        analysis.fit_power_offset(m[:3], m[:3], m[:3])
    with pytest.raises(ValueError, match="positive standard errors"):
        analysis.fit_power_offset(m, 1 / m, np.zeros(4))
    with pytest.raises(ValueError, match="shapes"):
        analysis.fit_power_offset(m, 1 / m, np.ones(3))
