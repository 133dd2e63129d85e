"""Recording schedules and recorders.

A recorder receives, in order: ``begin(info)`` once, then ``frame(step, time, theta)``
and ``observables(step, time, values)`` at the scheduled steps, ``checkpoint(state)``
after each record, and ``end(status, message)``. :class:`MemoryRecorder` keeps
everything in memory; :class:`particles.io.H5Writer` streams the same calls into
an HDF5 file. The simulator never knows which one it feeds.
"""
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


class Recorder:
    """Base recorder: every hook does nothing."""

    def begin(self, info):
        """``info``: dict with config (dict), m, d, dtype, teacher, theta0, seed."""

    def frame(self, step, time, theta):
        """Snapshot of the particles (m, d + 2) at ``step``."""

    def observables(self, step, time, values):
        """Dict name -> float at ``step``."""

    def checkpoint(self, state):
        """Full-precision state to resume from (dict of arrays and JSON-able values)."""

    def flush(self):
        """Make everything recorded so far durable now (e.g. the step-0 records)."""

    def end(self, status, message):
        """Run finished with ``status`` ("complete", "stopped", "diverged", "interrupted")."""


class MemoryRecorder(Recorder):
    """Keeps frames and observables in memory (lists, turned into arrays on demand)."""

    def __init__(self, keep_frames=True):
        self.keep_frames = keep_frames
        self.info = None
        self.frame_steps, self.frame_times, self.frames = [], [], []
        self.obs_steps, self.obs_times, self.obs = [], [], {}
        self.last_checkpoint = None
        self.status = None
        self.message = None

    def begin(self, info):
        if self.info is None:
            self.info = info

    def frame(self, step, time, theta):
        if not self.keep_frames:
            return
        self.frame_steps.append(step)
        self.frame_times.append(time)
        self.frames.append(np.array(theta, copy=True))

    def observables(self, step, time, values):
        self.obs_steps.append(step)
        self.obs_times.append(time)
        for k, v in values.items():
            self.obs.setdefault(k, []).append(v)

    def checkpoint(self, state):
        self.last_checkpoint = state

    def end(self, status, message):
        self.status = status
        self.message = message


class Tee(Recorder):
    """Forwards every call to several recorders."""

    def __init__(self, *recorders):
        self.recorders = [r for r in recorders if r is not None]

    def begin(self, info):
        for r in self.recorders:
            r.begin(info)

    def frame(self, step, time, theta):
        for r in self.recorders:
            r.frame(step, time, theta)

    def observables(self, step, time, values):
        for r in self.recorders:
            r.observables(step, time, values)

    def checkpoint(self, state):
        for r in self.recorders:
            r.checkpoint(state)

    def flush(self):
        for r in self.recorders:
            r.flush()

    def end(self, status, message):
        for r in self.recorders:
            r.end(status, message)
