"""Documentation that runs: every docstring example of the package executes as a
doctest, and every code block of the README and docs that the docs say is real output
stays in step with the code."""
import doctest
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "particles"


def _modules_with_examples():
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" in path.read_text():
            rel = path.relative_to(ROOT).with_suffix("")
            out.append(".".join(rel.parts).removesuffix(".__init__"))
    return out


@pytest.mark.parametrize("module", _modules_with_examples())
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed"


def test_every_docs_page_is_linked_and_every_link_resolves():
    import re

    readme = (ROOT / "README.md").read_text()
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    for p in set(pages) - {"index.md"}:  # every page is reachable from the README, directly
        # or in one hop (index.md is the root of the documentation site)
        others = "".join((ROOT / "docs" / q).read_text() for q in pages if q != p)
        assert f"](docs/{p}" in readme or f"]({p}" in others, f"docs/{p} is linked nowhere"

    for page in [ROOT / "README.md"] + list((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://", "auto_examples/")):
                continue  # external, or the gallery that the docs build generates
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_every_public_name_has_a_docstring():
    import inspect

    import particles

    missing = [n for n in particles.__all__ if n != "__version__"
               and not inspect.getdoc(getattr(particles, n))]
    for modname in ("lazy", "experiments.sweep", "analysis.convex", "analysis.optimality",
                    "analysis.distances", "analysis.lazy", "experiments.figures",
                    "viz.plotting", "viz.animation", "model.network", "dynamics.observables",
                    "dynamics.integrators", "oracles.base", "config.rules", "registry"):
        mod = importlib.import_module(f"particles.{modname}")
        assert inspect.getdoc(mod), f"particles.{modname} has no docstring"
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                if not inspect.getdoc(obj):
                    missing.append(f"{modname}.{name}")
    assert not missing, f"public names without a docstring: {missing}"


def _python_blocks(text):
    """(code, printed output or None) for every ```python block, with the plain ```
    block that follows it when there is one."""
    import re

    out = []
    for m in re.finditer(r"```python\n(.*?)```\n(\s*```\n(.*?)```)?", text, re.S):
        out.append((m.group(1), m.group(3)))
    return out


def test_readme_python_examples_print_what_the_readme_shows(tmp_path, monkeypatch):
    import contextlib
    import io

    monkeypatch.chdir(tmp_path)
    namespace = {}
    blocks = _python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    for code, shown in blocks:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "README.md", "exec"), namespace)
        if shown is not None:
            assert buf.getvalue().strip() == shown.strip()


def test_getting_started_reads_a_run_with_plain_h5py(tmp_path, monkeypatch):
    import particles as pt
    from particles.cli import DEFAULT_CONFIG

    monkeypatch.chdir(tmp_path)
    cfg = pt.load_toml(DEFAULT_CONFIG)
    cfg = cfg.replace(integrator=cfg.integrator.replace(t_end=5.0))
    pt.run(cfg, "runs/default.h5")
    (code, _), = _python_blocks((ROOT / "docs" / "getting-started.md").read_text())
    namespace = {}
    exec(compile(code, "getting-started.md", "exec"), namespace)
    assert namespace["frames"] is not None and namespace["risk"].size > 0


def test_docs_snippet_runner_runs_and_reports(tmp_path):
    """docs/run_snippets.py (run by the docs build): file marks, continuations, comments,
    installation lines, and a failing snippet named by page and line."""
    import sys

    sys.path.insert(0, str(ROOT / "docs"))
    import run_snippets

    page = tmp_path / "page.md"
    page.write_text("intro\n\n<!-- file: cfg.toml -->\n```toml\n[network]\nm = 4\n```\n\n"
                    "```sh\npip install -e . && test -f cfg.toml   # a comment\n"
                    "# only a comment\necho a \\\n  b > out.txt\n```\n\n"
                    "```python\nassert open('out.txt').read().split() == ['a', 'b']\n```\n\n"
                    "```toml\n[network]\nm = 8\n```\n")
    found = run_snippets.blocks(page.read_text())
    assert [(b[0], b[1], b[3]) for b in found] == [("toml", 5, "cfg.toml"), ("sh", 10, None),
                                                  ("python", 17, None), ("toml", 21, None)]
    assert run_snippets.commands(found[1][2]) == ["pip install -e . && test -f cfg.toml",
                                                  "echo a    b > out.txt"]
    assert run_snippets.run_page(str(page), log=lambda *a: None) == 5  # 2 commands
    page.write_text("x\n\n```python\nx = 1\n```\n\n```python\nassert x == 2, 'no'\n```\n")
    with pytest.raises(run_snippets.SnippetError, match=r"page.md:8: AssertionError: no"):
        run_snippets.run_page(str(page), log=lambda *a: None)
    page.write_text("```toml\n[network]\nm = -3\n```\n")
    with pytest.raises(run_snippets.SnippetError, match=r"page.md:2: the TOML does not load"):
        run_snippets.run_page(str(page), log=lambda *a: None)
