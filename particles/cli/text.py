"""What the command line prints: the progress of a run and the summary of a run file."""
from __future__ import annotations

import os
import sys
import time


#: seconds without a first progress report after which the compile notice is printed
COMPILE_NOTICE_AFTER = 3.0


class _Progress:
    """tqdm bar on a terminal, plain periodic lines otherwise.

    Unless quiet, a one-line notice is printed when the first report takes more than
    :data:`COMPILE_NOTICE_AFTER` seconds (Numba compiling the kernels of a first run).
    """

    def __init__(self, total, quiet, start=0):
        self.quiet = quiet
        self.bar = None
        self.last = 0.0
        self.t0 = time.perf_counter()
        self.start = start
        self.first = None
        self.notice = None
        if quiet:
            return
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="step", unit_scale=True,
                            dynamic_ncols=True)
        import threading

        self._lock = threading.Lock()
        self._noticed = False
        self._watch = _CompileWatch()
        self.notice = threading.Timer(COMPILE_NOTICE_AFTER, self._notice)
        self.notice.daemon = True
        self.notice.start()

    def _notice(self):
        with self._lock:
            if not self._noticed:
                self._noticed = True
                _compile_notice()
                self._watch.start(self.t0)

    def __call__(self, step, n_steps, t, risk):
        if self.quiet:
            return
        if self.notice is not None:
            self.notice.cancel()
            self.notice = None
            if time.perf_counter() - self.t0 >= COMPILE_NOTICE_AFTER:
                self._notice()  # the timer was due but had not run yet
            self._watch.stop()
        if self.bar is not None:
            self.bar.total = n_steps
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(f"t={t:.4g} risk={risk:.3e}", refresh=False)
            return
        now = time.perf_counter()
        if self.first is None:  # rates count from the first report (compilation excluded)
            self.first = (step, now)
        if now - self.last >= 5.0 or step == n_steps:
            done, el = step - self.first[0], now - self.first[1]
            rate = f"  {done / el:.0f} steps/s" if done > 0 and el > 0 else ""
            print(f"step {step}/{n_steps}  t={t:.4g}  risk={risk:.4e}{rate}", flush=True)
            self.last = now

    def close(self):
        if self.notice is not None:
            self.notice.cancel()
            self._watch.stop()
        if self.bar is not None:
            self.bar.close()


def _compile_notice():
    where = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ next to the package"
    print(f"compiling the kernels this run needs (first run only: about {COMPILE_SECONDS} s "
          f"on 2 cores; later runs load them from {where}; `particles compile --all` fills "
          "the cache ahead of time)", file=sys.stderr, flush=True)


#: what the notice promises: the first use of a configuration on an empty cache, measured
#: on 2 cores by ``python -m benchmarks startup`` (12 s for the default job, at most 23 s
#: for another oracle or activation)
COMPILE_SECONDS = "10 to 30"
#: seconds between the lines that count the kernels compiled so far
COMPILE_PROGRESS_EVERY = 5.0


class _CompileWatch:
    """While a run waits for its first step: a line every :data:`COMPILE_PROGRESS_EVERY`
    seconds with the number of kernels Numba has compiled so far (its ``numba:compile``
    events) and the seconds spent."""

    def __init__(self):
        self.done = 0
        self._listener = None
        self._stop = None

    def start(self, t0):
        import threading

        from numba.core import event

        watch = self

        class Listener(event.Listener):
            def on_start(self, ev):
                pass

            def on_end(self, ev):
                watch.done += 1

        self._listener = Listener()
        event.register("numba:compile", self._listener)
        self._stop = threading.Event()

        self._t0 = t0
        stop = self._stop

        def report():
            while not stop.wait(COMPILE_PROGRESS_EVERY):
                print(self.line(), file=sys.stderr, flush=True)

        threading.Thread(target=report, daemon=True).start()

    def line(self):
        """The progress line: kernels compiled so far and seconds since the run began."""
        return f"  compiling: {self.done} kernels done in {time.perf_counter() - self._t0:.0f} s"

    def stop(self):
        if self._stop is None:
            return
        from numba.core import event

        self._stop.set()
        self._stop = None
        event.unregister("numba:compile", self._listener)


def _progress(run, st):
    """The progress line: the step and time reached against the run's target, which a
    resume with --t-end moves (the checkpoint keeps it as ``t_end``)."""
    t_end = st.get("t_end")
    n_target = run.n_steps if t_end is None else max(1, int(round(t_end / run.dt)))
    line = (f"progress    step {st.get('step', 0)} of {n_target}, t = "
            f"{st.get('time', 0.0):.6g} of {n_target * run.dt:.6g}")
    if n_target != run.n_steps:
        line += f" (moved by resume --t-end from the configured {run.n_steps * run.dt:.6g})"
    return line


def summary(run):
    """A readable multi-line summary (the ``particles info`` output)."""
    st = run.state
    c = run.config
    lines = [
        f"file        {run.path} ({os.path.getsize(run.path) / 1e6:.2f} MB)",
        f"status      {st.get('status', 'running')}"
        + (f" - {st['message']}" if st.get("message") else ""),
        _progress(run, st),
        f"frames      {len(run)} snapshots of m = {run.m} particles in d = {run.d}",
    ]
    ic = c.integrator
    geometry = (f", geometry wfr (fr_rate {ic.fr_rate:g})" if ic.geometry == "wfr" else "")
    if c.problem.kind == "deconvolution":
        pc = c.problem
        lines += [
            f"problem     deconvolution on the torus: {pc.m0} spikes, cutoff {pc.cutoff}, "
            f"noise {pc.noise:g}, reg {pc.reg:g}",
            f"init        {c.init.scheme}, masses +-{c.init.scales[0]:g}",
            f"dynamics    {ic.method}, dt={ic.dt:g}{geometry}, lr_a={ic.lr_a:g}, "
            f"oracle={c.oracle.kind}, seed={c.seed}, dtype={c.dtype}"]
    else:
        lines += [
            f"problem     {c.problem.kind}, {c.problem.inputs} inputs, {c.problem.loss} loss"
            + (f", teacher m0 = {c.problem.m0}" if c.problem.kind == "teacher_student" else ""),
            f"network     {c.network.activation}, bias={c.network.bias}, "
            f"alpha={c.network.alpha:g}, scaling={c.network.scaling} "
            f"(alpha_eff={c.network.effective_alpha:g}), model={c.network.model}",
            f"init        {c.init.scheme}, tau={c.init.tau:g}, symmetric={c.init.symmetric}",
            f"dynamics    {ic.method}, dt={ic.dt:g} (gradient descent on R with step "
            f"{ic.dt * c.network.m / c.network.effective_alpha ** 2:.4g}){geometry}, "
            f"oracle={c.oracle.kind}, seed={c.seed}, dtype={c.dtype}"]
    if "risk" in run.observable_names:
        s, t, v = run.observable("risk")
        if len(v):
            lines.append(f"risk        {v[0]:.4g} at t = 0 -> {v[-1]:.4g} at t = {t[-1]:.6g}")
    if "test_risk" in run.observable_names:
        s, t, v = run.observable("test_risk")
        if len(v):
            lines.append(f"test risk   {v[-1]:.4g} at t = {t[-1]:.6g}")
    if "objective" in run.observable_names and ic.temperature == 0:
        s, t, v = run.observable("objective")
        if len(v):
            lines.append(f"objective   {v[0]:.6g} at t = 0 -> {v[-1]:.6g} at t = {t[-1]:.6g}")
    if ic.temperature > 0:
        line = (f"langevin    temperature {ic.temperature:g}"
                + (" / log(e + t)" if ic.temperature_schedule == "log" else "")
                + f", weight decay {ic.weight_decay:g}")
        if "free_energy" in run.observable_names:
            s, t, v = run.observable("free_energy")
            _, _, h = run.observable("entropy")
            if len(v):
                line += (f"; free energy {v[0]:.4g} at t = 0 -> {v[-1]:.4g} at t = "
                         f"{t[-1]:.6g} (entropy {h[-1]:.3g} nats)")
        lines.append(line)
    kappa = run.lazy_criterion
    if kappa is not None:
        lines.append(f"kappa       {kappa['kappa']:.3g} at t = 0 (lazy-training criterion on "
                     f"{kappa['n']} probes: residual {kappa['residual']:.3g}, |Dh| "
                     f"{kappa['jacobian_norm']:.3g}, |D2h| {kappa['hessian_norm']:.3g}; small "
                     "means lazy)")
    lazy = lazy_summary(run) if c.problem.kind != "deconvolution" else ""
    if lazy:
        lines.append("lazy        " + lazy)
    from ..io.annotate import read_annotation

    pol = read_annotation(run.f, "polish")
    if pol is not None:
        lines.append(f"polish      {pol['method']}: gradient {pol['grad_norm']:.3g}, "
                     f"risk {pol['risk']:.6g}")
    cert = read_annotation(run.f, "certificate")
    if cert is not None and cert.get("kind") == "deconvolution":
        lines.append(f"certificate sup |V| = {cert['value']:.6g} against {cert['threshold']:.6g}"
                     f": {cert['classification']}")
    elif cert is not None:
        lines.append(f"certificate {cert['value']:.3g} (decrease bound "
                     f"{cert['decrease_bound']:.3g}), Hessian {cert.get('classification')}")
    if run.problem_origin == "python":
        lines.append("origin      problem passed from Python (stored in the file)")
    return "\n".join(lines)


def lazy_summary(run):
    """One line on how far a run moved from its start: relative distance travelled and
    the tangent kernel's drift, at the last record ("" when nothing is recorded)."""
    from ..analysis.distances import relative_distance

    parts = []
    moved = relative_distance(run)
    if moved is not None and len(moved[1]):
        parts.append(f"moved {moved[1][-1]:.3g} x |theta0|")
    if "kernel_drift" in run.observable_names:
        _, _, kd = run.observable("kernel_drift")
        if len(kd):
            parts.append(f"tangent kernel drift {kd[-1]:.3g}")
    return ", ".join(parts)
