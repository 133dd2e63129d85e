"""The exact oracle of sparse deconvolution on the torus (closed forms, O(m K) per call)."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .._numba.jit import jit
from ..kernels import deconvolution as _deconv
from ..kernels.dispatch import register
from .base import Oracle

#: what the compiled loops receive for this oracle: the observation's coefficients, the
#: cutoff, two work vectors over frequencies and seven over particles
DeconvolutionData = namedtuple("DeconvolutionData", "yc ys cutoff dc ds work")


@jit
def _velocity(theta, data, out):
    return _deconv.deconvolution_velocity(theta, data.yc, data.ys, data.cutoff, data.dc,
                                          data.ds, data.work, out)


register(DeconvolutionData, _velocity)


class DeconvolutionOracle(Oracle):
    """The exact oracle of a :class:`~particles.model.deconvolution.Deconvolution`.

    ``velocity(theta)`` returns the data term 1/2 ||Phi mu - y||^2 (the "risk") and
    v_i = (-V(p_i), -c_i V'(p_i), 0). The penalty lam |mu|(T) is the integrator's
    business (a proximal step, or the Fisher-Rao rate): ``reg`` carries lam, and
    ``period`` = 1 says that positions live on the torus.
    """

    #: positions live on the torus [0, period)
    period = 1.0

    def __init__(self, problem, m, dtype=np.float64):
        K = problem.cutoff
        data = DeconvolutionData(yc=np.ascontiguousarray(problem.yc, np.float64),
                                 ys=np.ascontiguousarray(problem.ys, np.float64),
                                 cutoff=np.int64(K), dc=np.zeros(K + 1), ds=np.zeros(K + 1),
                                 work=np.zeros((7, m)))
        super().__init__("exact", data, m, 1, dtype, pairs=m * (K + 1),
                         network={"activation": "relu", "bias": False, "alpha": 1.0})
        self.problem = problem
        self.reg = float(problem.reg)

    def objective(self, theta):
        """J = data term + lam (1/m) sum_i |c_i| at ``theta``."""
        return self.risk(theta) + self.reg * float(np.mean(np.abs(theta[:, 0])))

    def __repr__(self):
        return f"<exact deconvolution oracle, m={self.m}, cutoff={self.problem.cutoff}>"


def deconvolution_oracle(problem, m, dtype=np.float64):
    """The exact oracle of a deconvolution problem for ``m`` particles.

    Parameters
    ----------
    problem : particles.model.deconvolution.Deconvolution
    m : int
    dtype : numpy dtype
        State dtype (float64 or float32); sums are accumulated in float64.

    Returns
    -------
    DeconvolutionOracle
    """
    from ..model.deconvolution import Deconvolution

    if not isinstance(problem, Deconvolution):
        raise TypeError(f"problem must be a particles Deconvolution, got {type(problem).__name__}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m={m!r} is invalid; allowed: an integer >= 1")
    return DeconvolutionOracle(problem, int(m), np.dtype(dtype))


def build(config, problem, streams):
    """The exact oracle of a deconvolution run."""
    return deconvolution_oracle(problem, config.network.m, np.dtype(config.dtype))
