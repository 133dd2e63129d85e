"""Where the closed-form oracles apply: the one place that decides it.

Configuration checks, the oracles and the choice of a monitor oracle all ask here, so
the answer cannot drift between them. Each rule returns ``None`` when the oracle
applies, otherwise ``(field, value, allowed)`` for the error message (see
:func:`particles._checks._fail`). Nothing here imports NumPy or Numba.
"""
from __future__ import annotations


def exact_rule(inputs, loss, teacher_activation, teacher_bias, activation, bias):
    """Why the exact oracle does not apply to this problem and student, or None.

    Parameters
    ----------
    inputs : str
        The input law, ``"gaussian"`` or ``"sphere"``.
    loss : str
    teacher_activation : str
    teacher_bias : bool
    activation : str
        The student's activation.
    bias : bool
        Whether the student has biases.

    Returns
    -------
    tuple of (str, object, str) or None
        ``(field, value, allowed)`` when the exact oracle does not apply.
    """
    if loss != "squared":
        return ("oracle.kind", "exact", "'sampled' or 'online' with the logistic loss (the "
                "exact oracle is for the squared loss)")
    if teacher_activation != activation:
        return ("problem.teacher_activation", teacher_activation,
                f"the student's activation {activation!r} with the exact oracle")
    if inputs == "sphere" and (bias or teacher_bias or activation not in ("relu", "leaky_relu")):
        return ("problem.inputs", inputs, "'gaussian' with the exact oracle, unless the model "
                "is bias-free relu or leaky_relu")
    return None


def exact_tangent_rule(inputs, loss, teacher_activation, teacher_bias, activation, bias):
    """Why the exact oracle of the tangent (linearised) model does not apply, or None.

    It needs what :func:`exact_rule` needs, and a bias-free relu student and teacher
    (the arc-cosine closed forms of the linearised network).

    Parameters
    ----------
    inputs, loss, teacher_activation, teacher_bias, activation, bias
        As for :func:`exact_rule`.

    Returns
    -------
    tuple or None
        As for :func:`exact_rule`.
    """
    why = exact_rule(inputs, loss, teacher_activation, teacher_bias, activation, bias)
    if why is not None:
        return why
    if activation != "relu" or bias or teacher_bias:
        return ("network.model", "tangent", "'full' with the exact oracle unless the student "
                "and the teacher are bias-free relu networks (the exact tangent model); "
                "otherwise oracle.kind 'sampled', 'online' or 'dataset'")
    return None
