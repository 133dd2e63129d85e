"""The vectorisable elementary functions against the library ones."""
import math

import numpy as np
import pytest
from numba import njit

from particles.kernels import vmath

scipy_special = pytest.importorskip("scipy.special")


@njit(error_model="numpy")
def _apply(code, x, out):
    for i in range(x.shape[0]):
        if code == 0:
            out[i] = vmath.vexp(x[i])
        elif code == 1:
            out[i] = vmath.vsin(x[i])
        elif code == 2:
            out[i] = vmath.vatan_nonneg(x[i])
        else:
            out[i] = vmath.vasin(x[i])


def _run(code, x):
    out = np.empty_like(x)
    _apply(code, x, out)
    return out


def test_vexp_to_one_ulp_with_gradual_underflow(rng):
    x = np.concatenate([rng.uniform(-745, 709, 200_000), rng.uniform(-40, 1, 200_000),
                        [0.0, -0.0, -708.4, -744.9, -745.0, -745.2, -1e4, 709.7, 1e-300]])
    got, ref = _run(0, x), np.exp(np.minimum(x, 709.7))
    normal = ref > np.finfo(float).tiny
    np.testing.assert_allclose(got[normal], ref[normal], rtol=2.3e-16, atol=0)
    np.testing.assert_allclose(got[~normal], ref[~normal], rtol=0, atol=1e-323)


def test_vsin_vatan_vasin(rng):
    t = rng.uniform(-1.25, 1.25, 100_000)
    np.testing.assert_allclose(_run(1, t), np.sin(t), rtol=3e-16, atol=1e-300)
    x = np.concatenate([rng.uniform(0, 5, 50_000), np.exp(rng.uniform(-30, 30, 50_000)),
                        [0.0, 0.66, 2.41421356237309504880]])
    np.testing.assert_allclose(_run(2, x), np.arctan(x), rtol=3e-16)
    s = np.concatenate([rng.uniform(-0.999, 0.999, 100_000), [0.0, 0.5, -0.925]])
    np.testing.assert_allclose(_run(3, s), np.arcsin(s), rtol=6e-16, atol=1e-300)


def test_norm_cdf_rows(rng):
    x = np.concatenate([rng.normal(0, 3, 100_000), np.linspace(-38, 9, 4001), [0.0]])
    out = np.empty_like(x)
    vmath.norm_cdf_rows(x, out)
    np.testing.assert_allclose(out, scipy_special.ndtr(x), rtol=0, atol=3e-15)
    tail = (x < -5) & (x > -37)  # the lower tail keeps its relative accuracy (above subnormals)
    # relative error ~ z^2 eps from exp(-z^2 / 2): 5e-13 at x = -38
    np.testing.assert_allclose(out[tail], scipy_special.ndtr(x[tail]), rtol=1e-12)


def test_erfcx_coefficients_recomputed():
    """The stored series is the Chebyshev interpolant of erfcx, recomputed here with
    40-digit arithmetic."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    n = vmath.ERFCX_CHEB.shape[0]
    vals = []
    for j in range(n):
        u = mp.cos(mp.pi * (j + mp.mpf(1) / 2) / n)
        t = (u + 1) / 2
        z = 2 * (1 - t) / t
        vals.append(mp.exp(z * z) * mp.erfc(z))
    coef = [float(mp.fsum(vals[j] * mp.cos(mp.pi * q * (j + mp.mpf(1) / 2) / n)
                          for j in range(n)) * (1 if q == 0 else 2) / n) for q in range(n)]
    np.testing.assert_array_equal(vmath.ERFCX_CHEB, coef)
    assert len(coef) == 29  # norm_cdf_rows runs the recurrence over q = 28..1
    assert math.isclose(sum(c * (-1) ** q for q, c in enumerate(coef)), 0.0, abs_tol=1e-15)
