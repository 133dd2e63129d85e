"""When a run records: the steps of its particle frames and of its observables."""
from __future__ import annotations

import numpy as np


def schedule_steps(rc, n_steps, dt):
    """Particle-frame steps and observable steps of a run.

    Parameters
    ----------
    rc : particles.config.RecordConfig
    n_steps : int
        Total number of (nominal) steps; times are ``step * dt``.
    dt : float

    Returns
    -------
    frames, observables : ndarray of int64
        Sorted unique steps, both containing 0 and ``n_steps``; frames is a subset
        of observables (only 0 and ``n_steps`` with ``rc.particles = "ends"``).
    """
    def log_steps(k):
        # more points than steps collapse onto the steps: never draw more than that
        k = min(k, n_steps + 1)
        s = np.unique(np.round(np.geomspace(1, n_steps, max(k - 1, 1))).astype(np.int64))
        return np.union1d([0, n_steps], s)

    if rc.schedule == "log":
        frames = log_steps(rc.frames)
        obs = log_steps(rc.frames * rc.observables_factor)
    elif rc.schedule == "every":
        frames = np.union1d(np.arange(0, n_steps + 1, rc.every), [n_steps])
        sub = max(1, rc.every // rc.observables_factor)
        obs = np.union1d(np.arange(0, n_steps + 1, sub), [n_steps])
    else:
        t = np.asarray(rc.times, dtype=np.float64)
        frames = np.union1d([0, n_steps], np.clip(np.round(t / dt), 0, n_steps).astype(np.int64))
        obs = frames
    if rc.particles == "ends":
        frames = np.array([0, n_steps])
    frames = frames.astype(np.int64)
    obs = np.union1d(obs, frames).astype(np.int64)
    return frames, obs


def extend_schedule(rc, frames, obs, n_configured, n_steps):
    """The schedule of a run cut or extended to ``n_steps`` steps (``resume --t-end``).

    Up to the configured end (``n_configured`` steps) this is the configured schedule
    (``frames``, ``obs``); a longer run appends log-spaced records after it, a shorter
    one ends with a record at ``n_steps``.
    """
    if n_steps < n_configured:
        frames = np.union1d(frames[frames <= n_steps], [n_steps])
        obs = np.union1d(obs[obs <= n_steps], frames)
    elif n_steps > n_configured:
        cap = n_steps - n_configured + 1
        extra = np.round(np.geomspace(n_configured, n_steps, min(max(rc.frames // 2, 2), cap)))
        extra_obs = np.round(np.geomspace(n_configured, n_steps,
                                          min(max(rc.frames * rc.observables_factor // 2, 2),
                                              cap)))
        frames = np.union1d(frames, extra)
        obs = np.union1d(np.union1d(obs, extra_obs), frames)
    if rc.particles == "ends":
        frames = np.array([0, n_steps])
    return frames.astype(np.int64), obs.astype(np.int64)
