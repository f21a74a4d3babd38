"""Imports point down (see the layers of the house in design.md): model,
layer, stack and sharing code never import export or app code, and no
library code imports the apps' support package."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sharedformer_tf"
LOWER = ("layers", "stacks", "sharing", "models", "data", "training", "distribute")
FORBIDDEN = {name: ("sharedformer_tf.export", "sharedformer_tf.app") for name in LOWER}
# Text -> ids sits below the models that use it (design.md).
FORBIDDEN["preprocessing"] = ("sharedformer_tf.export", "sharedformer_tf.app",
                              "sharedformer_tf.models", "sharedformer_tf.translation",
                              "sharedformer_tf.generation")  # fmt: skip
FORBIDDEN.update(translation=("sharedformer_tf.app",), classification=("sharedformer_tf.app",),
                 generation=("sharedformer_tf.app", "sharedformer_tf.export"),
                 export=("sharedformer_tf.app",), report=("sharedformer_tf.app",),
                 convert=("sharedformer_tf.app", "sharedformer_tf.export"))  # fmt: skip


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package):
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith(FORBIDDEN[package])
    ]
    assert not wrong, wrong
