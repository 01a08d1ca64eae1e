"""The architecture, checked: which part of edgernn may import which, and no import circle,
not even one hidden in a function. Imports are read from the source (ast), so an import made
only inside a function counts as much as one at the top of a module.

The layers, lowest first (each may import those below it and its own modules):

    errors, version,       nothing of edgernn
    tokenizer, calendar    errors                       anyone may import these
    signature              errors
    core                   signature, errors            the model and stream state
    feeds                  errors                       where records come from, where outputs go
    tasks                  core                         classify, generate, seq2seq, the registry
    serve                  feeds, core                  the stream runner
    checks                 tasks, core                  the state contract
    bench                  tasks, core                  benchmarks
    flink                  serve, feeds, core           Flink jobs (PyFlink only inside its
                                                        operators and when a job is built)
    cli                    all of the above; edgernn.train only inside a function (the train
                           extra's commands: torch is imported when they run, never before)
    edgernn.train          anything in edgernn; nothing in edgernn imports it (but the cli)
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "edgernn": ROOT / "runtime",
    "edgernn.train": ROOT / "train",
    "edgernn.exported": ROOT / "exported",
}
BASE = {"edgernn.errors", "edgernn.version", "edgernn.tokenizer", "edgernn.calendar"}
ALLOWED = {
    "edgernn.errors": set(),
    "edgernn.version": set(),
    "edgernn.tokenizer": set(),
    "edgernn.calendar": set(),
    "edgernn.scaler": set(),
    "edgernn.signature": {"edgernn.errors", "edgernn.scaler"},
    "edgernn.core": {"edgernn.signature"},
    "edgernn.feeds": set(),
    "edgernn.tasks": {"edgernn.core", "edgernn.signature"},
    "edgernn.serve": {"edgernn.feeds", "edgernn.core", "edgernn.signature"},
    "edgernn.checks": {"edgernn.tasks", "edgernn.core", "edgernn.signature"},
    "edgernn.bench": {"edgernn.tasks", "edgernn.core", "edgernn.signature"},
    "edgernn.flink": {"edgernn.serve", "edgernn.feeds", "edgernn.core", "edgernn.signature"},
    "edgernn.cli": {
        "edgernn.serve",
        "edgernn.feeds",
        "edgernn.tasks",
        "edgernn.bench",
        "edgernn.checks",
        "edgernn.flink",
        "edgernn.core",
        "edgernn.signature",
        "edgernn",
    },
    "edgernn": {"edgernn.core", "edgernn.signature", "edgernn.tasks"},  # the public face
    "edgernn.exported": set(),
}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if name.startswith("edgernn.train") or not str(path.relative_to(ROOT)).startswith(
                "train"
            ):
                found[name] = path
    return found


MODULES = modules()


def imports(path: Path) -> list[tuple[str, bool]]:
    """(edgernn module imported, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text())
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [
                    f"{child.module}.{a.name}"
                    if f"{child.module}.{a.name}" in MODULES
                    else child.module
                    for a in child.names
                ]
            out.extend(
                (n, in_function) for n in names if n == "edgernn" or n.startswith("edgernn.")
            )
            visit(child, nested)

    visit(tree, False)
    return out


def layer(name: str) -> str:
    if name.startswith("edgernn.train"):
        return "edgernn.train"
    if name == "edgernn.__main__":
        return "edgernn.cli"  # python -m edgernn: the CLI
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else "edgernn"


def graph() -> dict[str, set[str]]:
    return {
        name: {target for target, _ in imports(path) if target != name}
        for name, path in MODULES.items()
    }


def test_every_import_follows_the_layers():
    wrong = []
    for name, path in MODULES.items():
        mine = layer(name)
        if mine == "edgernn.train":
            continue  # the training side may use anything of the runtime
        for target, in_function in imports(path):
            theirs = layer(target)
            if theirs in (mine, *BASE) or theirs in ALLOWED[mine]:
                continue
            if mine == "edgernn.cli" and theirs == "edgernn.train" and in_function:
                continue  # the train extra's commands, imported when they run
            wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle_anywhere():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for v in edges:
        if v not in index:
            strongconnect(v)
    assert not circles, circles


def test_the_checker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "import os\ndef f():\n    from edgernn.core import model\n    import edgernn.feeds.mqtt\n"
    )
    assert imports(f) == [("edgernn.core.model", True), ("edgernn.feeds.mqtt", True)]
