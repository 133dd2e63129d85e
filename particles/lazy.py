"""The lazy (kernel) regime, public module: tangent kernels, their infinite-width
limits, kernel regression, the lazy/mean-field diagnostics, and the criterion that
predicts the regime before training (:func:`criterion`).

A thin public module over :mod:`particles.analysis.lazy` (where the functions live)
and :mod:`particles.model.network` (the NumPy network and its tangent kernels), so
that ``particles.lazy.X`` is the stable address users and docs rely on. Nothing
inside the package imports this module.
"""
from .analysis.lazy import (expected_ntk, infinite_kernels, kernel_flow, kernel_ridge,
                            predictor_gap, run_criterion, run_twin, twin_path)
from .model.criterion import LazyCriterion, criterion
from .model.network import KERNEL_ACTIVATIONS, empirical_ntk, flow_kernel, gauss_pair

__all__ = ["KERNEL_ACTIVATIONS", "LazyCriterion", "criterion", "empirical_ntk", "expected_ntk",
           "flow_kernel", "gauss_pair", "infinite_kernels", "kernel_flow", "kernel_ridge",
           "predictor_gap", "run_criterion", "run_twin", "twin_path"]
