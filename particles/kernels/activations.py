"""Activation functions sigma with first and second derivatives, compiled (private).

Each activation has an integer code used inside compiled kernels (one branch per
element is cheaper than compiling a kernel per activation and keeps the on-disk
Numba cache small) and a name in :data:`particles.registry.ACTIVATIONS`, which
holds the vocabulary without loading Numba.

============  ====  ===================================  ==========================
name          code  sigma(z)                             exact Gaussian integrals
============  ====  ===================================  ==========================
relu          0     max(z, 0)                            arc-cosine / bivariate CDF
leaky_relu    1     max(z, 0) + leak * min(z, 0)         sums of four ReLU terms
sigmoid       2     1 / (1 + exp(-z))  (logistic)        2-D Gauss-Hermite quadrature
tanh          3     tanh(z)                              2-D Gauss-Hermite quadrature
erf           4     erf(z)                               Williams (1997), bivariate CDF
softplus      5     log(1 + exp(z))                      2-D Gauss-Hermite quadrature
============  ====  ===================================  ==========================

The derivative of relu at 0 is taken as 0 (and leak for leaky_relu); its second
derivative is the Dirac mass at 0, which only the exact (Gaussian) oracle uses,
through closed forms.
"""
import math

from .._numba.jit import inline, jit
from ..registry import ACTIVATIONS, HOMOGENEOUS, activation_code  # noqa: F401

RELU, LEAKY_RELU, SIGMOID, TANH, ERF, SOFTPLUS = (
    ACTIVATIONS[n] for n in ("relu", "leaky_relu", "sigmoid", "tanh", "erf", "softplus"))

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@inline
def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@inline
def sigma(code, z, leak):
    """sigma(z) for the activation ``code`` (scalar, compiled)."""
    if code == RELU:
        return z if z > 0 else 0.0 * z
    if code == LEAKY_RELU:
        return z if z > 0 else leak * z
    if code == SIGMOID:
        return _sigmoid(z)
    if code == TANH:
        return math.tanh(z)
    if code == ERF:
        return math.erf(z)
    # softplus, written to avoid overflow: max(z, 0) + log1p(exp(-|z|))
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@inline
def sigma1(code, z, leak):
    """First derivative sigma'(z)."""
    if code == RELU:
        return 1.0 if z > 0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if z > 0 else leak
    if code == SIGMOID:
        s = _sigmoid(z)
        return s * (1.0 - s)
    if code == TANH:
        t = math.tanh(z)
        return 1.0 - t * t
    if code == ERF:
        return _TWO_OVER_SQRT_PI * math.exp(-z * z)
    return _sigmoid(z)


@inline
def sigma2(code, z, leak):
    """Second derivative sigma''(z) (0 for the piecewise-linear activations)."""
    if code == RELU or code == LEAKY_RELU:
        return 0.0
    if code == SIGMOID:
        s = _sigmoid(z)
        return s * (1.0 - s) * (1.0 - 2.0 * s)
    if code == TANH:
        t = math.tanh(z)
        return -2.0 * t * (1.0 - t * t)
    if code == ERF:
        return -2.0 * z * _TWO_OVER_SQRT_PI * math.exp(-z * z)
    s = _sigmoid(z)
    return s * (1.0 - s)


@jit
def evaluate(code, z, leak, out0, out1, out2):
    """Vectorised sigma, sigma', sigma'' of a 1-D array ``z`` into three outputs.

    Parameters
    ----------
    code : int
        Activation code (see :data:`ACTIVATIONS`).
    z : ndarray, shape (n,)
    leak : float
        Slope of leaky_relu for z < 0 (ignored otherwise).
    out0, out1, out2 : ndarray, shape (n,)
        Receive sigma(z), sigma'(z), sigma''(z).
    """
    for k in range(z.shape[0]):
        out0[k] = sigma(code, z[k], leak)
        out1[k] = sigma1(code, z[k], leak)
        out2[k] = sigma2(code, z[k], leak)
