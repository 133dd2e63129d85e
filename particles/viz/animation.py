"""Animate a run's particle cloud, streaming frames from its HDF5 file.

For d = 2 the positions are k |c_i| a_i (each neuron's direction scaled by its output
weight, the mean-field papers' view; k puts particles and teacher in the same units,
see :func:`particles.viz.plotting.particle_scale`), coloured by the sign of c_i, with fading
trails; the teacher's neurons are stars on dotted rays and the unit circle is drawn
for reference. For d > 2 the cloud is projected on two teacher directions, on the top
two principal directions of the final cloud, or on two named coordinates. An inset
shows the risk (log-log) with a cursor at the current time.

Frames are read one at a time (two passes: limits, then drawing), so memory stays
bounded whatever the length of the run, and a run still being written can be
animated up to its last flushed frame.

Rendering blits: the static part of the figure (axes, ticks, teacher, risk curve) is
drawn once, and each frame redraws only the particles, trails, title and cursor on
top of it; the pixels go straight to Pillow (GIF, one shared palette) or to ffmpeg's
standard input (MP4). This is about 10x faster than redrawing the whole figure per
frame (``python -m benchmarks startup`` measures both).
"""
from __future__ import annotations

import os
import shutil
from collections import deque

import numpy as np

from .._checks import _check_int
from ..io.atomic import replaced
from .plotting import (NEG_COLOR, POS_COLOR, TEACHER_COLOR, _positive, check_output,
                       draw_reference, frame_indices, motion_indices, particle_scale, planar,
                       projection_basis, sign_colors, sign_legend, unit_label)


def ffmpeg_path():
    """Path of an ffmpeg executable (system, or the imageio-ffmpeg extra), or None."""
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - not installed, or no binary for this platform
        return None


class Scene:
    """The figure of one animation frame, updated in place frame after frame.

    Parameters
    ----------
    run : particles.io.Run
    idx : ndarray of int
        The frames that will be drawn (used for the axis limits and marker scale,
        computed in one streaming pass).
    size, dpi, trail, projection, size_by_c, units
        As for :func:`animate`.
    blit : bool
        Mark the moving artists as animated so that :meth:`render` redraws only them
        over a cached background (False: a plain figure, e.g. for ``savefig``).
    """

    def __init__(self, run, idx, *, size=5.0, dpi=80, trail=8, projection="auto",
                 size_by_c=True, blit=False, units="teacher"):
        import matplotlib.pyplot as plt

        from .measure import draw_truth, is_measure, mass_limits, measure_xy

        self.run = run
        self.d = run.d
        self.trail = trail
        self.size_by_c = size_by_c
        self.measure = is_measure(run)  # a measure on the torus: the (position, mass) plane
        if self.measure:
            self.basis, self.scale = None, 1.0
            self._plane = measure_xy
        else:
            self.basis = projection_basis(run, projection)
            self.scale = particle_scale(run, units)
            self._plane = lambda theta: planar(theta, self.d, self.basis, self.scale)
        n = len(run)
        self.times = run.times[:n]
        self.steps = run.steps[:n]
        self.risk_t = self.risk_v = None
        if "risk" in run.observable_names:
            _, self.risk_t, self.risk_v = run.observable("risk")
        lim, cmax = 1.0, 0.0
        if run.teacher is not None:
            lim = max(lim, float(np.abs(planar(run.teacher, self.d, self.basis)).max()))
        thetas = []
        for k in idx:
            theta = run.frame(int(k))
            p = self._plane(theta)
            lim = max(lim, float(np.percentile(np.abs(p), 99.5)))
            cmax = max(cmax, float(np.abs(theta[:, 0]).max()))
            if self.measure:
                thetas.append(theta)
        self.cmax = cmax
        lim *= 1.12
        fig = plt.figure(figsize=(size * 1.4, size) if self.measure else (size, size), dpi=dpi)
        ax = fig.add_axes((0.1, 0.1, 0.85, 0.8))
        if self.measure:
            spikes = run.problem().spikes
            ax.set_xlim(0, 1)
            ax.set_ylim(*mass_limits(spikes, thetas))
            ax.set_xlabel("position p on the torus", fontsize="small")
            ax.set_ylabel("mass c_i / m (area ~ |c|)", fontsize="small")
            draw_truth(ax, spikes)
        else:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xlabel(unit_label(units, self.basis is not None), fontsize="small")
            draw_reference(ax, run, self.basis)
        ax.tick_params(labelsize="x-small")
        start = self._plane(run.frame(0))
        ax.scatter(start[:, 0], start[:, 1], facecolors="none", edgecolors="0.55", s=10,
                   linewidth=0.5, zorder=1)  # each particle's start
        self.lines = [(ax.plot([], [], color=POS_COLOR, lw=1.0, alpha=0.0)[0],
                       ax.plot([], [], color=NEG_COLOR, lw=1.0, alpha=0.0)[0])
                      for _ in range(trail)]
        self.scat = ax.scatter(np.zeros((0, 2))[:, 0], np.zeros((0, 2))[:, 1], s=[], zorder=4,
                               edgecolor="k", linewidth=0.3)
        self.title = ax.set_title("", fontsize="small")
        self.cursor = None
        self._legend(ax)
        if self.risk_t is not None:
            inset = fig.add_axes((0.66, 0.66, 0.28, 0.2))
            t_pos, v_pos = _positive(self.risk_t, self.risk_v)
            inset.loglog(t_pos, v_pos, color="k", lw=0.9)
            inset.tick_params(labelsize=7)
            inset.set_title("risk against t (red: now)", fontsize=8)
            self.cursor = inset.axvline(t_pos[0] if t_pos.size else 1.0, color="C3", lw=0.8)
        self.fig, self.ax = fig, ax
        self.history = deque(maxlen=trail + 1)
        self.dynamic = [a for pair in self.lines for a in pair] + [self.scat, self.title]
        if self.cursor is not None:
            self.dynamic.append(self.cursor)
        for artist in self.dynamic:
            artist.set_animated(blit)
        self._background = None

    def _legend(self, ax):
        """What the markers mean (signs, start, reference), in the lower left."""
        from matplotlib.lines import Line2D

        if not self.measure:
            sign_legend(ax, self.run.teacher)
            return
        handles = [Line2D([], [], ls="none", marker="o", markersize=6, color=POS_COLOR,
                          label="mass > 0 (area ~ |c|)"),
                   Line2D([], [], ls="none", marker="o", markersize=6, color=NEG_COLOR,
                          label="mass < 0"),
                   Line2D([], [], ls="none", marker="D", markersize=6, color=TEACHER_COLOR,
                          markeredgecolor="k", label="true spikes")]
        ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.8)

    def render(self):
        """Pixels of the current frame, shape (height, width, 4), uint8 RGBA.

        The first call draws the whole figure and keeps its static part; later calls
        restore it and draw the moving artists only (needs ``blit=True``).
        """
        canvas = self.fig.canvas
        if self._background is None:
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for artist in self.dynamic:
            artist.draw(renderer)
        return np.asarray(canvas.buffer_rgba())

    def draw(self, k):
        """Update the figure to frame ``k`` (reads that one frame).

        Parameters
        ----------
        k : int
            Index of a stored frame of the run.
        """
        theta = self.run.frame(int(k))
        p = self._plane(theta)
        self.history.append(p)
        pos = theta[:, 0] >= 0
        self.scat.set_offsets(p)
        self.scat.set_facecolor(sign_colors(theta[:, 0]))
        if self.size_by_c and self.cmax > 0:
            self.scat.set_sizes(8 + 60 * np.abs(theta[:, 0]) / self.cmax)
        else:
            self.scat.set_sizes(np.full(p.shape[0], 20.0))
        past = list(self.history)
        for j, pair in enumerate(self.lines):
            seg = past[max(0, len(past) - 2 - j):len(past) - j]
            for line, mask in zip(pair, (pos, ~pos)):
                if len(seg) < 2 or not mask.any():
                    line.set_data([], [])
                    continue
                a, b = seg[0][mask], seg[1][mask]
                if self.measure:  # a step that wraps around the torus is not drawn
                    wrap = np.abs(b[:, 0] - a[:, 0]) > 0.5
                    b = b.copy()
                    b[wrap] = np.nan
                gap = np.full(a.shape[0], np.nan)
                line.set_data(np.column_stack([a[:, 0], b[:, 0], gap]).ravel(),
                              np.column_stack([a[:, 1], b[:, 1], gap]).ravel())
                line.set_alpha(0.6 * (1 - j / max(self.trail, 1)))
        t = float(self.times[k])
        label = f"t = {t:.4g}  (step {int(self.steps[k])})"
        if self.risk_t is not None:
            j = int(np.searchsorted(self.risk_t, t, side="right")) - 1
            label += f"   risk = {self.risk_v[max(j, 0)]:.3e}"
            if t > 0:
                self.cursor.set_xdata([t, t])
        self.title.set_text(label)


def animate(path, out=None, *, frames=60, fps=12, dpi=80, size=5.0, trail=8,
            projection="auto", size_by_c=True, warn=None, units="teacher", progress=None):
    """Write an animation of the run in ``path``.

    Parameters
    ----------
    path : str
        Run file (HDF5), possibly still being written.
    out : str, optional
        Output .gif or .mp4 (default: next to ``path`` with .gif). MP4 needs ffmpeg;
        without it a GIF is written instead and ``warn`` is called.
    frames : int
        Number of animation frames (>= 2), spaced so that the motion is visible from the
        start (:func:`particles.viz.plotting.motion_indices`: evenly in the motion done,
        with a share of log-time).
    fps : int
        Frames per second.
    dpi : int
    size : float
        Figure width and height in inches (pixels = size * dpi).
    trail : int
        Number of previous animation frames drawn as fading trails (0: none).
    projection : str
        For d > 2: "auto", "teacher", "pca" or "coords:I,J".
    size_by_c : bool
        Marker area proportional to |c_i|.
    warn : callable, optional
        Receives a one-line message when falling back from MP4 to GIF.
    units : {"teacher", "neuron", "raw"}
        How particles are scaled against the teacher's neurons
        (:func:`particles.viz.plotting.particle_scale`).
    progress : callable, optional
        ``progress(done, total)`` after every frame written.

    Returns
    -------
    str
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..io import Run

    for name, value, lo in (("frames", frames, 2), ("fps", fps, 1), ("dpi", dpi, 10),
                            ("trail", trail, 0)):
        _check_int(name, value, lo)
    if not size > 0:
        raise ValueError(f"size={size!r} is invalid; allowed: a number > 0")
    out = out or os.path.splitext(path)[0] + ".gif"
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"output {out!r} has extension {ext!r}; allowed: .gif or .mp4")
    check_output(out)
    if ext == ".mp4" and ffmpeg_path() is None:
        out = os.path.splitext(out)[0] + ".gif"
        ext = ".gif"
        if warn:
            warn("no ffmpeg found (install ffmpeg or `pip install 'meanfield-particles[mp4]'`); "
                 f"writing {out} instead")
    with Run(path) as run:
        n = len(run)
        if n < 2:
            raise ValueError(f"{path!r} has {n} frame(s); an animation needs at least 2")
        idx = motion_indices(run, frames)
        scene = Scene(run, idx, size=size, dpi=dpi, trail=trail, projection=projection,
                      size_by_c=size_by_c, blit=True, units=units)
        sink = _Mp4Sink(out, fps) if ext == ".mp4" else _GifSink(out, fps)
        try:
            for j, k in enumerate(idx):
                scene.draw(k)
                sink.add(scene.render())
                if progress is not None:
                    progress(j + 1, len(idx))
            sink.close()
        except BaseException:
            sink.abort()
            raise
        finally:
            plt.close(scene.fig)
    return out


def animate_side_by_side(paths, out, *, titles=None, frames=60, fps=12, dpi=80, size=4.5,
                         trail=8, units="teacher"):
    """One GIF of several runs side by side, frame k of each at the same record index
    (runs with one schedule, e.g. the points of a sweep).

    Parameters
    ----------
    paths : sequence of str
        Run files.
    out : str
        Output .gif.
    titles : sequence of str, optional
        A title above each panel (replacing the time line's prefix).
    frames, fps, dpi, size, trail, units
        As for :func:`animate`.

    Returns
    -------
    str
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..io import Run

    _check_int("frames", frames, 2)
    check_output(out)
    runs = [Run(p) for p in paths]
    scenes = []
    try:
        n = min(len(r) for r in runs)
        if n < 2:
            raise ValueError(f"the runs have {n} frame(s); an animation needs at least 2")
        idx = frame_indices(runs[0].times[:n], frames)
        scenes = [Scene(r, idx, size=size, dpi=dpi, trail=trail, blit=True, units=units)
                  for r in runs]
        sink = _GifSink(out, fps)
        for k in idx:
            row = []
            for j, scene in enumerate(scenes):
                scene.draw(k)
                if titles is not None:
                    scene.title.set_text(f"{titles[j]}\n{scene.title.get_text()}")
                row.append(scene.render()[..., :3])
            sink.add(np.concatenate(row, axis=1))
        sink.close()
    finally:
        for scene in scenes:
            plt.close(scene.fig)
        for r in runs:
            r.close()
    return out


class _GifSink:
    """Frames to an animated GIF through Pillow, with one palette for all frames.

    The palette is computed once from a few frames spread over the animation (no
    per-frame quantisation, no dithering: flat plot colours stay flat and the file
    stays small). Written under a temporary name and renamed into place.
    """

    def __init__(self, out, fps):
        self.out = out
        self.duration = int(round(1000 / fps))
        self.frames = []

    def add(self, rgba):
        self.frames.append(np.array(rgba[..., :3]))

    def close(self):
        from PIL import Image

        k = len(self.frames)
        sample = np.concatenate([self.frames[j] for j in
                                 sorted({0, k // 3, (2 * k) // 3, k - 1})], axis=0)
        palette = Image.fromarray(sample).quantize(colors=128,
                                                   method=Image.Quantize.MEDIANCUT)
        images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
                  for f in self.frames]
        with replaced(self.out) as tmp:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=self.duration, loop=0)

    def abort(self):
        self.frames = []


class _Mp4Sink:
    """Raw RGBA frames piped to ffmpeg (H.264, yuv420p), written to a temporary name."""

    def __init__(self, out, fps):
        self.out, self.fps = out, fps
        self.proc = None

    def add(self, rgba):
        import subprocess

        if self.proc is None:
            h, w = rgba.shape[:2]
            self.tmp = self.out + ".tmp.mp4"
            cmd = [ffmpeg_path(), "-y", "-loglevel", "error", "-f", "rawvideo",
                   "-pix_fmt", "rgba", "-s", f"{w}x{h}", "-r", str(self.fps), "-i", "-",
                   "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p",
                   "-vcodec", "libx264", self.tmp]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.proc.stdin.write(np.ascontiguousarray(rgba).tobytes())

    def close(self):
        self.proc.stdin.close()
        err = self.proc.stderr.read().decode(errors="replace")
        if self.proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {self.out!r}: {err.strip()[:200]}")
        os.replace(self.tmp, self.out)

    def abort(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def snapshot(path, out, *, index=-1, frames=60, dpi=100, size=5.0, trail=8,
             projection="auto", units="teacher"):
    """Write frame ``index`` of the animation (default: the last) as a still image.

    Parameters
    ----------
    path : str or os.PathLike
        A run file.
    out : str or os.PathLike
        The image (written whole or not at all).
    index : int
        Which of the animation's frames (negative from the end).
    frames, dpi, size, trail, projection, units
        As for :func:`animate`.

    Returns
    -------
    str or os.PathLike
        ``out``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..io import Run

    check_output(out)
    with Run(path) as run:
        n = len(run)
        if n < 1:
            raise ValueError(f"{path!r} has no frames yet")
        idx = frame_indices(run.times[:n], frames)
        k = idx[index]
        scene = Scene(run, idx, size=size, dpi=dpi, trail=trail, projection=projection,
                      units=units)
        for j in idx[max(0, list(idx).index(k) - trail):list(idx).index(k) + 1]:
            scene.draw(j)
        with replaced(out, keep_extension=True) as tmp:
            scene.fig.savefig(tmp, dpi=dpi)
        plt.close(scene.fig)
    return out
