"""The conic step: Wasserstein-Fisher-Rao flow of signed masses, and the proximal
Wasserstein step of a penalised measure.

A particle is a signed mass c_i = s_i |c_i| (column c) at a position theta_i (the other
columns). With V the first variation of the data term at a unit mass (its velocity's
c-component is -V(theta_i); its position components are -c_i grad V(theta_i)), the
Wasserstein-Fisher-Rao ("wfr", conic) flow of Chizat (2022) is

    d theta_i / dt = -beta s_i grad V(theta_i),      d|c_i| / dt = -alpha |c_i| (s_i V(theta_i) + lam),

with beta the per-layer rates (lr_a, lr_b), alpha the Fisher-Rao rate (``fr_rate``) and lam
the total-variation penalty (the problem's ``reg``; 0 for networks). One step (explicit,
first order in dt) moves the positions by dt times their velocity per unit mass and
multiplies the masses by exp(-alpha dt (s V + lam)), which keeps every sign and is exact
when V is frozen. A mass that is exactly 0 stays 0 and its position stays put.

The Wasserstein step of a penalised measure (deconvolution, geometry "wasserstein") is
forward-backward: an explicit step of the data term on (c, theta), then the proximal map
of dt lr_c lam |c| on the masses (soft-thresholding), which handles the non-smooth
penalty exactly (a mass may reach 0 and leave it again).

Positions on a torus (``oracle.period`` > 0) are wrapped into [0, period) after every
step.
"""
from __future__ import annotations

import math

import numpy as np

from .._numba.jit import FastCall, vjit
from ..kernels.dispatch import loop, velocity
from .integrators import RUNNING, CompiledStep, _check_dt, _check_stop, _rates


@vjit
def conic_steps(theta, data, v, lrc, fr, reg, dt, nsteps, wfr, period, stop_risk, stop_grad,
                reuse, risk_in, stats):
    """Advance ``theta`` in place by up to ``nsteps`` conic (or proximal) steps.

    Parameters
    ----------
    theta : ndarray, shape (m, k)
        Signed masses (column 0) and positions; updated in place.
    data : namedtuple
        The oracle's data (see :mod:`particles.kernels.dispatch`).
    v : ndarray, shape (m, k)
        Work: receives the oracle's velocity.
    lrc : ndarray, shape (k,)
        Per-column rates (lr_c for the mass in the Wasserstein step; the position rates).
    fr : float
        The Fisher-Rao rate alpha (``wfr``).
    reg : float
        lam >= 0, the total-variation penalty.
    dt : float
    nsteps : int
    wfr : bool
        The conic step; otherwise the proximal Wasserstein step.
    period : float
        > 0: column 1 lives on the torus [0, period) and is wrapped.
    stop_risk, stop_grad, reuse, risk_in, stats
        As for :func:`particles.dynamics.integrators.fixed_steps`.
    """
    m, k = theta.shape
    risk = np.nan
    g2 = np.nan
    status = RUNNING
    n = 0
    rsum = 0.0
    while n < nsteps:
        if n == 0 and reuse:
            risk = risk_in
        else:
            risk = velocity(theta, data, v)
        g2 = 0.0
        for i in range(m):
            for q in range(k):
                g2 += np.float64(v[i, q]) * np.float64(v[i, q])
        g2 /= m
        status = _check_stop(risk, g2, stop_risk, stop_grad)
        if status != RUNNING:
            break
        rsum += risk
        if wfr:
            for i in range(m):
                c = np.float64(theta[i, 0])
                if c != 0.0:
                    s = 1.0 if c > 0 else -1.0
                    inv = 1.0 / abs(c)
                    for q in range(1, k):
                        theta[i, q] += dt * lrc[q] * (np.float64(v[i, q]) * inv)
                    theta[i, 0] = c * math.exp(fr * dt * (s * np.float64(v[i, 0]) - reg))
        else:
            for i in range(m):
                for q in range(1, k):
                    theta[i, q] += dt * lrc[q] * v[i, q]
                c2 = np.float64(theta[i, 0]) + dt * lrc[0] * np.float64(v[i, 0])
                if reg > 0:
                    shrink = dt * lrc[0] * reg
                    if c2 > shrink:
                        c2 -= shrink
                    elif c2 < -shrink:
                        c2 += shrink
                    else:
                        c2 = 0.0
                theta[i, 0] = c2
        if period > 0:
            for i in range(m):
                theta[i, 1] -= period * math.floor(theta[i, 1] / period)
        n += 1
    stats[0] = n
    stats[1] = risk
    stats[2] = g2
    stats[3] = status
    stats[4] = rsum


class ConicStep(CompiledStep):
    """The conic (Wasserstein-Fisher-Rao) or proximal Wasserstein step, bound to an oracle.

    Parameters
    ----------
    method : {"euler", "sgd"}
        Explicit steps on the oracle's velocity ("sgd": a stochastic oracle's).
    oracle : particles.oracles.base.Oracle
        Its ``reg`` (lam, default 0) and ``period`` (torus, default none) are read.
    dt : float
    geometry : {"wfr", "wasserstein"}
        "wasserstein" here is the proximal step (a penalised measure, deconvolution).
    fr_rate : float
        alpha > 0 (geometry "wfr").
    lr : tuple of 3 floats
        (c, a, b) rates; c is the mass rate of the Wasserstein step (the conic step uses
        ``fr_rate``), a and b the position rates.
    stop_risk, stop_grad : float or None
        As for :class:`~particles.dynamics.integrators.FixedStep` (``stop_grad`` on the
        mean squared velocity of the oracle).
    """

    def __init__(self, method, oracle, dt, geometry="wfr", fr_rate=1.0, lr=(1.0, 1.0, 1.0),
                 stop_risk=None, stop_grad=None):
        if method not in ("euler", "sgd"):
            raise ValueError(f"method={method!r} is invalid for the conic step; allowed: "
                             "'euler', 'sgd'")
        if geometry not in ("wfr", "wasserstein"):
            raise ValueError(f"geometry={geometry!r} is invalid; allowed: 'wfr', 'wasserstein'")
        from ..oracles.base import check_oracle

        check_oracle(oracle)
        _check_dt(dt)
        if isinstance(fr_rate, bool) or not isinstance(fr_rate, (int, float, np.number)) \
                or not (math.isfinite(fr_rate) and fr_rate > 0):
            raise ValueError(f"fr_rate={fr_rate!r} is invalid; allowed: a finite number > 0")
        if getattr(oracle, "model", "full") != "full":
            raise ValueError("the conic step needs the full model; allowed: network.model = "
                             "'full'")
        self.method, self.oracle, self.geometry = method, oracle, geometry
        self.fr_rate = float(fr_rate)
        self.reg = float(getattr(oracle, "reg", 0.0))
        self.period = float(getattr(oracle, "period", 0.0))
        self.dt = float(dt)
        self._clock = float(dt)
        self.lrc, _, self.stop_risk, self.stop_grad = _rates(
            lr, 0.0, stop_risk, stop_grad, oracle.d, np.dtype(np.float64))
        self.v = np.zeros((oracle.m, oracle.d + 2), oracle.dtype)
        self.stats = np.zeros(5)
        self._steps = FastCall(loop(conic_steps, oracle.data))
        self._fresh = None

    def call_args(self, state, n_steps, reuse=False, risk_in=0.0):
        """The arguments of the compiled loop :func:`conic_steps`.

        Parameters
        ----------
        state : particles.State
        n_steps : int
        reuse : bool
            Whether the velocity in the work array is that of ``state`` already.
        risk_in : float
            Its risk, when ``reuse``.

        Returns
        -------
        tuple
        """
        return (state.theta, self.oracle.data, self.v, self.lrc, self.fr_rate, self.reg,
                self.dt, int(n_steps), self.geometry == "wfr", self.period, self.stop_risk,
                self.stop_grad, reuse, risk_in, self.stats)

    def generators(self):
        """The random streams ``advance`` draws from (the oracle's)."""
        return dict(self.oracle.streams)


def conic_step(config, oracle):
    """The :class:`ConicStep` of a run (geometry "wfr", or a deconvolution's proximal
    Wasserstein step).

    Parameters
    ----------
    config : particles.Config
    oracle : particles.Oracle
        The run's oracle.

    Returns
    -------
    ConicStep
    """
    ic = config.integrator
    return ConicStep(ic.method, oracle, ic.dt, geometry=ic.geometry, fr_rate=ic.fr_rate,
                     lr=(ic.lr_c, ic.lr_a, ic.lr_b), stop_risk=ic.stop_risk,
                     stop_grad=ic.stop_grad)
