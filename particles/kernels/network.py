"""The network itself, compiled: outputs f(x) on a batch and Gaussian/sphere inputs."""
import math

from . import activations as act
from .._numba.jit import jit


@jit
def forward(theta, X, code, leak, bias, scale, out):
    """Network output f(x_k) = scale sum_i c_i sigma(a_i . x_k + b_i).

    Parameters
    ----------
    theta : ndarray, shape (m, d + 2)
    X : ndarray, shape (n, d)
    code, leak, bias
        Activation code, leaky slope, bias flag.
    scale : float
        Output factor: alpha / m for a student, 1 for a teacher (no 1/m0).
    out : ndarray, shape (n,)
    """
    m = theta.shape[0]
    d = theta.shape[1] - 2
    s = scale
    for k in range(X.shape[0]):
        f = 0.0
        for i in range(m):
            z = theta[i, d + 1] if bias else 0.0
            for q in range(d):
                z += theta[i, q + 1] * X[k, q]
            f += theta[i, 0] * act.sigma(code, z, leak)
        out[k] = s * f


@jit
def draw_inputs(gen, sphere, X):
    """Fill ``X`` (n, d) with N(0, I) rows, normalised to the unit sphere if asked."""
    n, d = X.shape
    for k in range(n):
        nrm = 0.0
        for q in range(d):
            v = gen.standard_normal()
            X[k, q] = v
            nrm += v * v
        if sphere:
            nrm = math.sqrt(nrm)
            for q in range(d):
                X[k, q] = X[k, q] / nrm
