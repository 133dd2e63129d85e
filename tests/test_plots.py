"""Plots and animations of real runs (Agg)."""
import numpy as np
import pytest
from PIL import Image

import particles as pt
from particles.viz import animation, plotting


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    paths = {}
    for name, m, dim in (("m8", 8, 2), ("m16", 16, 2), ("d5", 12, 5)):
        cfg = pt.Config(problem=pt.ProblemConfig(d=dim, inputs="sphere"),
                        network=pt.NetworkConfig(m=m),
                        init=pt.InitConfig(tau=0.3, symmetric=True),
                        integrator=pt.IntegratorConfig(dt=0.05, t_end=20.0),
                        record=pt.RecordConfig(frames=40), seed=1)
        paths[name] = str(d / f"{name}.h5")
        pt.run(cfg, paths[name])
    return paths


def _frames(path):
    im = Image.open(path)
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append(np.asarray(im.convert("RGB"), dtype=np.int16))
    return out


def test_gif_decodes_with_requested_frames_and_size(runs, tmp_path):
    out = animation.animate(runs["m16"], str(tmp_path / "a.gif"), frames=12, dpi=50, size=4)
    frames = _frames(out)
    assert len(frames) == 12
    assert frames[0].shape == (200, 200, 3)
    diffs = [np.abs(frames[k + 1] - frames[k]).sum() for k in range(len(frames) - 1)]
    assert min(diffs) > 0  # the particles moved between every pair of frames


def test_projections_differ(runs, tmp_path):
    imgs = {}
    for proj in ("teacher", "pca", "coords:0,1"):
        out = animation.animate(runs["d5"], str(tmp_path / f"{proj[:6]}.gif"), frames=3, dpi=40,
                                projection=proj)
        imgs[proj] = _frames(out)[-1]
    assert np.abs(imgs["teacher"] - imgs["pca"]).sum() > 0
    assert np.abs(imgs["pca"] - imgs["coords:0,1"]).sum() > 0


def test_streaming_reads_a_bounded_number_of_frames(runs, monkeypatch, tmp_path):
    """Never more than one frame held by a read; total reads = 2 passes over the frames."""
    from particles.io import Run

    held = []
    orig = Run.frame

    def frame(self, k):
        arr = orig(self, k)
        held.append(arr.nbytes)
        return arr

    monkeypatch.setattr(Run, "frame", frame)
    animation.animate(runs["m16"], str(tmp_path / "s.gif"), frames=10, dpi=30)
    m, d = 16, 2
    assert max(held) == m * (d + 2) * 8
    assert len(held) <= 2 * 10 + 1


def test_mp4_without_ffmpeg_falls_back_to_gif(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(animation, "ffmpeg_path", lambda: None)
    msgs = []
    out = animation.animate(runs["m8"], str(tmp_path / "x.mp4"), frames=3, dpi=30,
                            warn=msgs.append)
    assert out.endswith(".gif") and msgs and "ffmpeg" in msgs[0]


def test_plot_functions_return_expected_axes(runs):
    import matplotlib.pyplot as plt

    fig = plotting.plot_risk([runs["m8"], runs["m16"]])
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log"
    fig = plotting.plot_paths(runs["m8"])
    assert len(fig.axes[0].get_lines()) >= 8
    fig = plotting.plot_histograms(runs["m16"])
    assert len(fig.axes) == 2
    fig = plotting.plot_invariants([runs["m8"], runs["m16"]])
    assert len(fig.axes[0].get_lines()) == 2
    _, ax = plt.subplots()
    assert plotting.plot_risk(runs["m8"], ax=ax) is ax.figure
    fig = plotting.plot_lazy([runs["m8"], runs["m16"]])
    assert len(fig.axes) == 3 and len(fig.axes[0].get_lines()) == 2  # distance
    assert len(fig.axes[1].get_lines()) == 2  # kernel drift
    assert fig.axes[2].texts  # no tangent twin: says so
    plt.close("all")


def test_units_put_particles_and_teacher_on_one_scale(runs):
    """A particle is drawn at k |c| a with k = alpha_eff/m0 (teacher units),
    alpha_eff/m (output weights) or 1 (raw); the teacher at |c*| a*."""
    with pt.Run(runs["m8"]) as run:
        m, m0 = run.m, run.teacher.shape[0]
        assert plotting.particle_scale(run, "teacher") == pytest.approx(1.0 / m0)
        assert plotting.particle_scale(run, "neuron") == pytest.approx(1.0 / m)
        assert plotting.particle_scale(run, "raw") == 1.0
        with pytest.raises(ValueError, match="units='mass'"):
            plotting.particle_scale(run, "mass")
        theta = run.frame(-1)
        fig = plotting.plot_paths(run, units="neuron")
        ends = fig.axes[0].collections[1].get_offsets()
        np.testing.assert_allclose(ends, np.abs(theta[:, :1]) * theta[:, 1:3] / m)
        starts = fig.axes[0].collections[0].get_offsets()
        np.testing.assert_allclose(starts, np.abs(run.theta0[:, :1]) * run.theta0[:, 1:3] / m)


def test_bad_input(runs, tmp_path):
    with pytest.raises(FileNotFoundError):
        animation.animate(str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="projection='sideways' is unknown"):
        animation.animate(runs["d5"], str(tmp_path / "p.gif"), projection="sideways")
    with pytest.raises(ValueError, match="does not exist"):
        animation.animate(runs["m8"], str(tmp_path / "no" / "dir" / "x.gif"))
    with pytest.raises(ValueError, match="allowed: .gif or .mp4"):
        animation.animate(runs["m8"], str(tmp_path / "x.avi"))
    one = pt.Config(integrator=pt.IntegratorConfig(dt=0.1, t_end=0.1),
                    record=pt.RecordConfig(schedule="times", times=(0.1,)))
    path = str(tmp_path / "one.h5")
    pt.run(one, path)
    import h5py

    with h5py.File(path, "r+") as f:  # make a file with a single frame
        for k in ("step", "time", "value"):
            f["particles/neurons/position"][k].resize(1, axis=0)
    with pytest.raises(ValueError, match="1 frame"):
        animation.animate(path, str(tmp_path / "one.gif"))


def test_time_axes_share_one_label_and_the_start_histogram_shares_the_bins(runs):
    import matplotlib.pyplot as plt

    figs = [plotting.plot_risk(runs["m8"]), plotting.plot_invariants(runs["m8"]),
            plotting.plot_lazy(runs["m8"])]
    labels = {ax.get_xlabel() for f in figs for ax in f.axes}
    assert labels == {plotting.TIME_LABEL}
    fig = plotting.plot_histograms(runs["m16"], bins=20)
    for ax in fig.axes:  # the final histogram's bars and the start's outline, same edges
        bars = [p for p in ax.patches if p.get_fill()]
        outline = [p for p in ax.patches if not p.get_fill()]
        assert len(bars) == 20 and len(outline) == 1
        xs = outline[0].get_xy()[:, 0]
        np.testing.assert_allclose([xs.min(), xs.max()],
                                   [bars[0].get_x(), bars[-1].get_x() + bars[-1].get_width()],
                                   rtol=1e-12)
    plt.close("all")


def test_animation_reports_progress_and_moves_from_the_start(runs, tmp_path):
    seen = []
    animation.animate(runs["m16"], str(tmp_path / "p.gif"), frames=12, dpi=30,
                      progress=lambda done, total: seen.append((done, total)))
    total = seen[0][1]
    assert seen == [(k, total) for k in range(1, total + 1)] and 2 <= total <= 12
    with pt.load(runs["m16"]) as run:  # frames follow the motion: fewer in the plateau
        times = run.times[:len(run)]
        idx_motion = plotting.motion_indices(run, 12)
        idx_log = plotting.frame_indices(times, 12)
        _, t, dist = run.observable("distance")
    far = np.maximum.accumulate(np.asarray(dist, float))
    half = np.asarray(t)[np.searchsorted(far, 0.5 * far[-1])]  # half the way out
    assert np.sum(times[idx_motion] <= half) <= np.sum(times[idx_log] <= half)
