"""What a run will need, checked before anything is allocated.

:func:`estimate_bytes` adds up the arrays a run allocates (particles and their work
copies, the oracle's sample and buffers, the record schedule, frames kept in memory);
:func:`check_memory` refuses a run whose estimate exceeds the memory available to this
process (``MemAvailable``, capped by a cgroup memory limit), naming both numbers.
"""
from __future__ import annotations

import math

from .._checks import ConfigError

#: the most steps a run may have (times are step * dt in float64)
MAX_STEPS = 10 ** 15


def available_bytes():
    """Memory this process can still use: MemAvailable, capped by a cgroup limit."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    for path, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                        "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(path) as fh:
                raw = fh.read().strip()
            if raw == "max":
                continue
            with open(used) as fh:
                left = int(raw) - int(fh.read().strip())
            avail = left if avail is None else min(avail, left)
        except (OSError, ValueError):
            continue
    return avail


def estimate_bytes(config, d, n_data=0, keep_frames=False):
    """Bytes a run of ``config`` allocates, roughly (within a factor of about 2).

    Parameters
    ----------
    config : particles.Config
    d : int
        Input dimension (of the problem that runs).
    n_data : int
        Rows of a data set (data-set problems).
    keep_frames : bool
        Frames are kept in memory (``simulate``), not only streamed to a file.
    """
    net, oc, ic, rc = config.network, config.oracle, config.integrator, config.record
    item = 4 if config.dtype == "float32" else 8
    m, k = net.m, d + 2
    lanes = 4
    total = 10 * m * k * item  # theta, theta0, velocities, Heun buffers, checkpoints
    m0 = config.problem.m0
    if config.problem.kind == "teacher_student":
        total += 2 * m0 * k * 8  # the teacher and its copies
    if oc.kind == "exact":
        total += (m + m0) * d * item + lanes * m * (d + 4) * 8 + lanes * 128 * (128 + d) * item
    rows = {"sampled": oc.n, "online": oc.batch, "dataset": n_data}.get(oc.kind, 0)
    if oc.kind in ("sampled", "online"):
        rows += oc.n_monitor
    # the sample and its transposed copy, plus per-lane buffers of m columns
    total += 2 * rows * (d + 1) * item + lanes * (d + 2) * m * 8 * 2 + lanes * 1024 * 8 * 4
    n_steps = ic.n_steps
    records = min(n_steps + 1, max(rc.frames, 2) * rc.observables_factor * 2)
    if rc.schedule == "every":
        records = n_steps // max(rc.every // rc.observables_factor, 1) + 2
    total += records * 8 * 16
    if keep_frames:
        frames = min(n_steps + 1, rc.frames if rc.schedule == "log"
                     else n_steps // rc.every + 2)
        total += frames * m * k * item
    return int(total)


def check_steps(n_steps, what="integrator.t_end / integrator.dt"):
    """Refuse more than :data:`MAX_STEPS` steps (``what`` names the keys behind them)."""
    if not (isinstance(n_steps, (int, float)) and math.isfinite(n_steps)
            and n_steps <= MAX_STEPS):
        raise ConfigError(f"{what} makes {n_steps:.3g} steps; allowed: at most "
                          f"{MAX_STEPS:.0e} (a larger integrator.dt or a smaller "
                          "integrator.t_end)")


def check_memory(config, d, n_data=0, keep_frames=False):
    """Raise ConfigError when the run would not fit in the available memory."""
    need = estimate_bytes(config, d, n_data, keep_frames)
    avail = available_bytes()
    if avail is not None and need > avail:
        teacher = (f", problem.m0 = {config.problem.m0}"
                   if config.problem.kind == "teacher_student" else "")
        raise ConfigError(f"the run needs about {need / 2 ** 30:.3g} GiB (network.m = "
                          f"{config.network.m}, problem.d = {d}{teacher}, oracle "
                          f"{config.oracle.kind}); {avail / 2 ** 30:.3g} GiB is available: "
                          "lower network.m, problem.m0, problem.d, the sample size or "
                          "record.frames")
    return need
