"""The package's structure rules (docs/extending.md): no module imports another's private name,
no import cycles, and no function over 60 lines without a comment saying why it is one piece."""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "remc_mpi"
MAX_LINES = 60
ONE_PIECE = "one piece"


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path, ast.parse(path.read_text())


def test_no_private_names_imported_across_modules():
    bad = [f"{name}: {node.module}.{alias.name}" for name, _, tree in modules() for node in ast.walk(tree)
           if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("remc_mpi")
           for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert bad == []


def test_no_import_cycles():
    names = {name for name, _, _ in modules()}
    graph = defaultdict(set)
    for name, _, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("remc_mpi"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    graph[name].add(full if full in names else node.module)
    state: dict[str, int] = {}

    def visit(n, path):
        state[n] = 1
        for m in graph[n]:
            if m == n or m not in names:
                continue
            assert state.get(m) != 1, "import cycle: " + " -> ".join(path + [m])
            if m not in state:
                visit(m, path + [m])
        state[n] = 2

    for n in sorted(names):
        if n not in state:
            visit(n, [n])


def test_long_functions_say_why_they_are_one_piece():
    long = []
    for name, path, tree in modules():
        lines = path.read_text().splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                body = "\n".join(lines[node.lineno - 1:node.end_lineno])
                if n > MAX_LINES and ONE_PIECE not in body:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert long == []
