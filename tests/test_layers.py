"""The package's layers (docs/architecture.md, "Layers"): every import inside
``particles/``, function-level ones included, goes to the module's own layer or one it
may use; the import graph has no cycle; nothing inside the package imports the facade.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "particles"

#: layer -> module prefixes (the longest matching prefix decides)
LAYERS = {
    "base": ("particles._version", "particles._checks", "particles.registry"),
    "numba": ("particles._numba",),
    "kernels": ("particles.kernels",),
    "config": ("particles.config",),
    "model": ("particles.model",),
    "oracles": ("particles.oracles",),
    "io": ("particles.io",),
    "dynamics": ("particles.dynamics",),
    "analysis": ("particles.analysis",),
    "viz": ("particles.viz",),
    "experiments": ("particles.experiments",),
    "cli": ("particles.cli",),
    "facade": ("particles", "particles.lazy"),
}
_BELOW_ORACLES = {"base", "numba", "kernels", "config", "model"}
#: layer -> the layers it may import (its own included)
ALLOWED = {
    "base": {"base"},
    "numba": {"base", "numba"},
    "kernels": {"base", "numba", "kernels"},
    "config": {"base", "config"},  # no kernels: a configuration never loads Numba
    "model": {"base", "numba", "kernels", "config", "model"},
    "oracles": _BELOW_ORACLES | {"oracles"},
    "io": {"base", "config", "model", "io"},  # run files know no oracle, kernel or dynamics
    "dynamics": _BELOW_ORACLES | {"oracles", "io", "dynamics"},
    "analysis": {"base", "numba", "config", "model", "oracles", "io", "dynamics", "analysis"},
    "viz": {"base", "config", "model", "io", "analysis", "viz"},
    "experiments": (_BELOW_ORACLES - {"kernels"})
    | {"oracles", "io", "dynamics", "analysis", "viz", "experiments"},
    "cli": (_BELOW_ORACLES - {"kernels"})
    | {"oracles", "io", "dynamics", "analysis", "viz", "experiments", "cli"},
    "facade": set(LAYERS),
}
#: the compiled kernels are private: outside kernels/, oracles/ and model/ only the
#: compiled dispatch may be imported (by the dynamics, for the compiled loops)
KERNEL_IMPORTERS = {"oracles", "model", "kernels"}
KERNELS_PUBLIC = {"particles.kernels.dispatch"}


def module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(module):
    best = max((p for ps in LAYERS.values() for p in ps
                if module == p or module.startswith(p + ".")), key=len)
    return next(name for name, ps in LAYERS.items() if best in ps)


def imports(module):
    """Modules of the package that ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "particles")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "particles":
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in MODULES else source)
    return found


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_has_a_layer_and_few_sit_at_the_top():
    for m in MODULES:
        assert layer(m) in ALLOWED
    top = [p.name for p in ROOT.glob("*.py")]
    assert len(top) <= 6, top


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    own = layer(module)
    for target in sorted(GRAPH[module]):
        assert target in MODULES, f"{module} imports {target}, which does not exist"
        assert layer(target) in ALLOWED[own], (
            f"{module} ({own}) imports {target} ({layer(target)}); allowed: "
            f"{', '.join(sorted(ALLOWED[own]))}")
        if layer(target) == "kernels" and own not in KERNEL_IMPORTERS:
            assert target in KERNELS_PUBLIC, f"{module} imports the private {target}"
        if own != "facade":
            assert layer(target) != "facade", f"{module} imports the facade ({target})"


def test_no_import_cycle():
    # Tarjan's strongly connected components over the module graph
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in MODULES:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in GRAPH[v]:
                cycles.append(sorted(comp))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_checker_sees_what_it_must():
    # premise guard: the parser finds function-level and relative imports, and the
    # rules reject an upward edge (a broken checker would pass everything)
    assert "particles.dynamics.runner" in GRAPH["particles.analysis.lazy"]  # in a function
    assert "particles.kernels.activations" in GRAPH["particles.kernels.network"]  # `from . import`
    assert layer("particles.analysis.lazy") not in ALLOWED["dynamics"]
    assert layer("particles.lazy") == "facade" and layer("particles") == "facade"
