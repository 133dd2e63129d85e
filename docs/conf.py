"""Sphinx configuration of the particles documentation site.

Build: ``pip install -e '.[docs]' && python -m sphinx -W -b html docs docs/_build/html``
"""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import particles  # noqa: E402

project = "particles"
author = "the particles developers"
release = version = particles.__version__
copyright = f"2026, {author}. MIT licence. Version {version}"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "run_snippets",  # every code block of the pages runs during the build (docs/run_snippets.py)
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples", "gallery/*.md", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
myst_heading_anchors = 3
# $...$ and $$...$$ (with amsmath environments) render through MathJax
myst_enable_extensions = ["dollarmath", "amsmath"]
autosummary_generate = True
autodoc_default_options = {"members": True, "undoc-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# every documented callable names each of its parameters (PR01) and no other (PR02);
# the build fails otherwise (-W). Dataclasses and protocols are excluded: their fields,
# which are the constructor's parameters, are documented in an Attributes section.
numpydoc_validation_checks = {"PR01", "PR02"}
numpydoc_validation_exclude = {
    r"Config$", r"\.Problem$", r"\.Result$", r"\.State$", r"\.Sweep$", r"\.SweepTable$",
    r"\.ConvexResult$", r"\.Certificate$", r"\.Spectrum$", r"\.PolishResult$",
    r"\.LazyCriterion$", r"\.Deconvolution$", r"\.RiskOracle$", r"\.Integrator$",
    # constructors are documented by their class; names imported from the standard
    # library into a module (its page lists them) are not ours
    r"\.__init__$", r"\.(dataclass|field|asdict)$",
}
html_theme = "pydata_sphinx_theme"
html_title = f"particles {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
}


def _escape_bars(app, what, name, obj, options, lines):
    """The docstrings write norms and absolute values as |x| (plain text, as read in a
    terminal); in reStructuredText |x| is a substitution, so the bars are escaped."""
    for i, line in enumerate(lines):
        lines[i] = line.replace("|", "\\|")


def setup(app):
    app.connect("autodoc-process-docstring", _escape_bars, priority=100)
