"""The layer rule of DESIGN.md, checked on the import graph (AST only: nothing is executed).

Layers, bottom up: kernels -> autograd/tensor -> ops (+ functional) -> nn -> keras ->
data/models -> gradcheck/io/loop -> app. A module may import only from its own layer or the
layers below it. Also: the package never imports benchmarks/ or tests/, and no module imports
another module's private (underscore) name, except sibling private modules of its own
package (e.g. ``kernels/numba_cpu/_workspace``).
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tinymm"

# module prefix -> what it may not import (by module prefix)
FORBIDDEN = {
    "tinymm.kernels": ("tinymm.tensor", "tinymm.autograd", "tinymm.ops", "tinymm.nn",
                       "tinymm.functional", "tinymm.keras", "tinymm.app", "tinymm.models",
                       "tinymm.data", "tinymm.loop", "tinymm.optim"),
    "tinymm.ops": ("tinymm.nn", "tinymm.keras", "tinymm.app", "tinymm.models",
                   "tinymm.kernels.reference", "tinymm.kernels.numba_cpu",
                   "tinymm.kernels.numba_cuda"),
    "tinymm.functional": ("tinymm.nn", "tinymm.keras", "tinymm.app",
                          "tinymm.kernels.reference", "tinymm.kernels.numba_cpu",
                          "tinymm.kernels.numba_cuda"),
    "tinymm.nn": ("tinymm.keras", "tinymm.app", "tinymm.models", "tinymm.data",
                  "tinymm.loop"),
    "tinymm.optim": ("tinymm.keras", "tinymm.app", "tinymm.models"),
    "tinymm.keras": ("tinymm.app",),
    "tinymm.models": ("tinymm.app", "tinymm.keras"),
    "tinymm.data": ("tinymm.app", "tinymm.keras", "tinymm.models"),
    "tinymm.loop": ("tinymm.app",),
    "tinymm": ("benchmarks", "tests"),
}
# Tensor's methods are thin calls into ops (Tensor.__add__ -> ops.elementwise.Add): tensor.py
# imports the ops it dispatches to, below its class. The only upward edge, declared here.
ALLOWED_UPWARD = {("tinymm.tensor", "tinymm.ops")}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: pathlib.Path):
    """(imported module, imported names, line) for every import in the file, at any depth."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield base, tuple(a.name for a in node.names), node.lineno


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations():
    modules = dict(_modules())
    found = []
    for module, path in modules.items():
        for target, names, line in _imports(module, path):
            for owner, banned in FORBIDDEN.items():
                if not _under(module, owner):
                    continue
                for prefix in banned:
                    if _under(target, prefix) and not any(
                            _under(module, a) and _under(target, b) for a, b in ALLOWED_UPWARD):
                        found.append(f"{path.name}:{line} {module} imports {target} "
                                     f"(layer rule: {owner} may not import {prefix})")
            for name in names:
                if not name.startswith("_") or name.startswith("__"):
                    continue
                submodule = f"{target}.{name}"
                sibling = submodule in modules and target == module.rsplit(".", 1)[0]
                if not sibling:
                    found.append(f"{path.name}:{line} {module} imports the private name "
                                 f"{name} from {target}")
    return found


def test_the_import_graph_follows_the_layer_rule():
    assert _violations() == []


@pytest.mark.parametrize("source, expected", [
    ("from tinymm.tensor import Tensor\n", "tinymm.kernels may not import tinymm.tensor"),
    ("from tinymm.ops.conv2d import _helper\n", "private name _helper"),
])
def test_the_checker_catches_a_planted_violation(tmp_path, monkeypatch, source, expected):
    fake = tmp_path / "tinymm"
    (fake / "kernels").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "kernels" / "__init__.py").write_text("")
    (fake / "kernels" / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake, raising=False)
    globals()["PACKAGE"] = fake
    try:
        assert any(expected in v for v in _violations())
    finally:
        globals()["PACKAGE"] = pathlib.Path(__file__).resolve().parents[1] / "tinymm"
