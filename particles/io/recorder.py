"""Recorders: where a run's frames, observables and checkpoints go.

A recorder receives, in order: ``begin(info)`` once, then ``frame(step, time, theta)``
and ``observables(step, time, values)`` at the scheduled steps, ``checkpoint(state)``
after each record, and ``end(status, message)``. :class:`MemoryRecorder` keeps
everything in memory; :class:`particles.io.H5Writer` streams the same calls into
an HDF5 file. The simulator never knows which one it feeds. When the records are
taken is :mod:`particles.dynamics.schedule`'s business.
"""
from __future__ import annotations

import numpy as np


class Recorder:
    """Base recorder: every hook does nothing."""

    def begin(self, info):
        """The run starts.

        Parameters
        ----------
        info : dict
            ``config`` (dict), ``m``, ``d``, ``dtype``, ``teacher``, ``theta0``, ``seed``
            and what the writer stores with them (problem, schedule, lazy criterion).
        """

    def frame(self, step, time, theta):
        """Snapshot of the particles at ``step``.

        Parameters
        ----------
        step : int
        time : float
        theta : ndarray, shape (m, d + 2)
            Copied by recorders that keep it.
        """

    def observables(self, step, time, values):
        """The observables at ``step``.

        Parameters
        ----------
        step : int
        time : float
        values : dict
            Name -> float.
        """

    def checkpoint(self, state):
        """Full-precision state to resume from.

        Parameters
        ----------
        state : dict
            ``theta`` (array) and JSON-able values (step, time, status, streams, ...).
        """

    def flush(self):
        """Make everything recorded so far durable now (e.g. the step-0 records)."""

    def end(self, status, message):
        """The run finished.

        Parameters
        ----------
        status : {"complete", "stopped", "diverged", "interrupted"}
        message : str
            Why, in words.
        """


class MemoryRecorder(Recorder):
    """Keeps frames and observables in memory (lists, turned into arrays on demand).

    Parameters
    ----------
    keep_frames : bool
        Keep the particle snapshots (False: observables only, bounded memory).
    """

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
