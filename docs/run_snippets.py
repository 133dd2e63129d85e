"""Run every code snippet of the documentation pages while the site builds.

A Sphinx extension (``docs/conf.py`` loads it): when the builder starts, every fenced
block of every ``docs/*.md`` page runs, page by page, in a fresh temporary folder that
has the repository's ``docs/`` linked in (so ``docs/examples/lazy.toml`` resolves), and
a failing snippet fails the build with the page, the line and the output. What "run"
means for each kind of block:

* ``python``: executed in one namespace per page, in page order;
* ``sh`` / ``bash``: every command line (``\\`` continuations joined, comments dropped)
  runs in bash with a time limit. Installation (``pip install ... &&``) is not run
  here: CI installs the package from its own files, and installs the built wheel alone
  in a fresh environment; the command after the ``&&`` runs, except the test suite
  (``python -m pytest``), which is CI's first step;
* ``toml``: preceded by ``<!-- file: NAME -->`` it is written to NAME for the commands
  below it; otherwise it is parsed and loaded as a configuration or sweep
  (``particles.config.io``), so an option the code no longer knows fails the build;
* ``text``, ``console`` without commands, output listings and MyST directives
  (``{toctree}``) are not code.

``python docs/run_snippets.py [PAGE.md ...]`` runs them outside Sphinx.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
FENCE = re.compile(r"^(```+)(\S*)\s*$")
FILE_MARK = re.compile(r"<!--\s*file:\s*(\S+)\s*-->")
SHELLS = ("sh", "bash", "shell")
#: seconds a single shell command may take
TIMEOUT = 600


class SnippetError(RuntimeError):
    """A documentation snippet failed."""


def blocks(text):
    """Fenced blocks of a markdown page: (language, first line number, code, file mark)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.groups()
        start = i + 1
        j = start
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        mark = None
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        if k >= 0:
            fm = FILE_MARK.search(lines[k])
            mark = fm.group(1) if fm else None
        out.append((lang, start + 1, "\n".join(lines[start:j]), mark))
        i = j + 1
    return out


def commands(code):
    """Shell command lines of a block (continuations joined, comments and blanks dropped)."""
    out, cur = [], ""
    for line in code.splitlines():
        stripped = line.split(" #")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if stripped.endswith("\\"):
            cur += stripped[:-1] + " "
            continue
        cur += stripped
        if cur.strip():
            out.append(cur.strip())
        cur = ""
    return out


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_page(path, log=print):
    """Run the snippets of one page; returns the number run. Raises SnippetError."""
    name = os.path.relpath(path, ROOT)
    with open(path, encoding="utf-8") as fh:
        found = blocks(fh.read())
    ran = 0
    namespace = {"__name__": "__docs__"}
    with tempfile.TemporaryDirectory(prefix="particles-docs-") as work:
        os.symlink(DOCS, os.path.join(work, "docs"))
        here = os.getcwd()
        os.chdir(work)
        try:
            for lang, line, code, mark in found:
                where = f"{name}:{line}"
                if lang == "python":
                    try:
                        exec(compile(code, where, "exec"), namespace)
                    except Exception as exc:  # noqa: BLE001 - reported with its place
                        raise SnippetError(f"{where}: {type(exc).__name__}: {exc}") from exc
                    ran += 1
                elif lang in SHELLS:
                    for cmd in commands(code):
                        if re.match(r"^(python -m )?pip install", cmd):
                            # the installation is CI's (it also installs the built wheel
                            # alone); what follows it runs here, except the test suite,
                            # which is CI's first step
                            log(f"  {where}: installation not run here: {cmd}")
                            cmd = cmd.split("&&", 1)[1].strip() if "&&" in cmd else ""
                            if not cmd or cmd == "python -m pytest":
                                continue
                        t = time.perf_counter()
                        proc = subprocess.run(["bash", "-c", cmd], capture_output=True,
                                              text=True, env=_env(), timeout=TIMEOUT)
                        if proc.returncode != 0:
                            raise SnippetError(f"{where}: `{cmd}` exited {proc.returncode}:\n"
                                               f"{(proc.stdout + proc.stderr)[-2000:]}")
                        log(f"  {where}: {cmd}  ({time.perf_counter() - t:.1f} s)")
                        ran += 1
                elif lang == "toml":
                    if mark:
                        with open(mark, "w", encoding="utf-8") as fh:
                            fh.write(code + "\n")
                    else:
                        _load_toml(code, where)
                    ran += 1
        finally:
            os.chdir(here)
    return ran


def _load_toml(code, where):
    from particles.config import io as config_io

    try:
        data = tomllib.loads(code)
        if "sweep" in data:
            from particles.experiments.sweep import sweep_from_dict

            sweep_from_dict(data)
        else:
            config_io.from_dict(data)
    except Exception as exc:  # noqa: BLE001
        raise SnippetError(f"{where}: the TOML does not load: {exc}") from exc


def pages():
    return sorted(os.path.join(DOCS, f) for f in os.listdir(DOCS) if f.endswith(".md"))


def run_all(paths=None, log=print):
    """Run the snippets of every page (or of ``paths``); returns {page: snippets run}."""
    out = {}
    t = time.perf_counter()
    for path in paths or pages():
        out[os.path.basename(path)] = run_page(path, log)
    log(f"documentation snippets: {sum(out.values())} run in "
        f"{time.perf_counter() - t:.0f} s ({', '.join(f'{k} {v}' for k, v in out.items())})")
    return out


def _on_builder_inited(app):
    from sphinx.errors import ExtensionError
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    try:
        run_all(log=logger.info)
    except SnippetError as exc:
        raise ExtensionError(f"a documentation snippet failed: {exc}") from exc


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True}


if __name__ == "__main__":
    try:
        run_all([os.path.abspath(p) for p in sys.argv[1:]] or None)
    except SnippetError as exc:
        sys.exit(f"a documentation snippet failed: {exc}")
