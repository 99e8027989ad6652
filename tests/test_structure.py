"""The package's structure rules (docs/extending.md): no module imports another's private name,
no import cycles, and no function over 60 lines without a comment saying why it is one piece."""

import ast
import re
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


#: a subpackage's __init__ docstring states the parts it never imports from, in this form
NEVER = re.compile(r"Imports nothing from: ([\w, ]+?) \(enforced by tests/test_structure\.py\)")


def forbidden_parts() -> dict[str, set[str]]:
    """Per subpackage, the parts of remc_mpi its __init__ docstring says it never imports from."""
    rules = {}
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        found = NEVER.search(" ".join(doc.split()))
        rules[init.parent.name] = set(found.group(1).split(", ")) if found else set()
    return rules


def test_every_subpackage_says_what_it_holds_and_never_imports():
    rules = forbidden_parts()
    assert set(rules) >= {"sampling", "evidence", "io", "driver", "ui", "models", "kernels", "moves", "instruments"}
    silent = [name for name, never in rules.items() if not never and name != "ui"]
    assert silent == [], "subpackages whose __init__ docstring does not say what they never import"


def test_imports_follow_the_directions_the_subpackages_state():
    """A part's modules import nothing (at module level or inside functions) from the parts
    its __init__ docstring excludes; nothing outside ui imports from ui."""
    rules = forbidden_parts()
    for part in rules:
        if part != "ui":
            rules[part].add("ui")
    bad = []
    for name, _, tree in modules():
        parts = name.split(".")
        if len(parts) < 2 or parts[1] not in rules:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("remc_mpi."):
                target = node.module.split(".")[1]
                if target in rules[parts[1]]:
                    bad.append(f"{name} imports {node.module}")
    assert bad == []


def test_the_python_api_run_is_the_engines_and_costs_nothing_until_used():
    """``remc_mpi.run`` is the one code path of ``remc-mpi run``; importing the package alone
    (as the command line does first) loads none of numba, mpi4py or h5py."""
    import subprocess
    import sys

    code = ("import sys, remc_mpi; heavy = [m for m in ('numba', 'mpi4py', 'h5py') if m in sys.modules]; "
            "from remc_mpi.driver.engine import run; print(heavy, remc_mpi.run is run)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True"
