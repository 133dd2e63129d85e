"""What polish returns (shared by the network and the measure polishers)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PolishResult:
    """What :func:`polish` returns.

    Attributes
    ----------
    theta : ndarray, shape (m, d + 2)
        The polished state.
    risk : float
        R(f) at ``theta``.
    grad_norm : float
        Root mean square of the mean-field velocity, sqrt((1/m) sum_i |v_i|^2).
    grad_norm0 : float
        The same at the start.
    method : str
    iterations, nfev : int
    message : str
    """

    theta: np.ndarray
    risk: float
    grad_norm: float
    grad_norm0: float
    method: str
    iterations: int
    nfev: int
    message: str

    def report(self):
        """JSON-friendly summary (no arrays)."""
        return {"method": self.method, "risk": self.risk, "grad_norm": self.grad_norm,
                "grad_norm0": self.grad_norm0, "iterations": self.iterations,
                "nfev": self.nfev, "message": self.message}
