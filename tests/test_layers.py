"""The layers, as imports: data flows one way, and a newcomer can trust the folder tree.

Ground floor first: model (the shared vocabulary) <- config <- probes, agent <- balancers,
notify <- engine <- history <- front-ends (report, ui, lab) <- cli. A module imports only from
floors below its own (and from its own package); the core never imports Textual or Rich; the
console reads the engine's snapshot, not probes, balancers or config parsing; no two modules
import each other, however indirectly.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "castui"

#: Floor of each top-level package; packages on one floor do not import each other.
FLOORS = {
    "castui": 0,  # the package root holds only the version
    "model": 0,
    "config": 1,
    "probes": 2,
    "agent": 2,
    "balancers": 3,
    "notify": 3,
    "engine": 4,
    "history": 5,
    "report": 6,
    "ui": 6,
    "metrics": 6,  # a front-end: it reads the engine's snapshot, never the console
    "lab": 6,
    "cli": 7,
    "__main__": 8,
}
CORE = ("model", "config", "probes", "agent", "balancers", "notify", "engine", "history")
#: What the console may not reach into: it renders the engine's snapshot.
UI_FORBIDDEN = ("castui.probes", "castui.balancers", "castui.config.loader",
                "castui.config.addresses", "castui.config.reader", "castui.config.ranges",
                "castui.config.files", "castui.config.names", "castui.config.defaults",
                "castui.config.sites", "castui.config.notifiers")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """Every module `path` imports anywhere (top level, functions, TYPE_CHECKING blocks):
    castui modules by their full name, others by their top-level package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {name if name.startswith("castui") else name.split(".")[0] for name in found}


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "castui"


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(path, known) for name, path in mods.items()}


def test_every_package_has_a_floor() -> None:
    missing = {package(name) for name in modules()} - set(FLOORS)
    assert not missing, f"give these packages a floor in FLOORS: {sorted(missing)}"


def test_imports_point_down() -> None:
    wrong = []
    for name, deps in graph().items():
        mine = package(name)
        for dep in deps:
            if not dep.startswith("castui"):
                continue
            theirs = package(dep)
            if theirs != mine and FLOORS[theirs] >= FLOORS[mine]:
                wrong.append(f"{name} imports {dep}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_the_core_never_imports_textual_or_rich() -> None:
    wrong = [f"{name} imports {dep}" for name, deps in graph().items()
             if package(name) in CORE for dep in deps if dep in ("textual", "rich")]
    assert not wrong, "\n".join(sorted(wrong))


def test_the_console_reads_the_snapshot_not_the_probes() -> None:
    wrong = [f"{name} imports {dep}" for name, deps in graph().items()
             if package(name) == "ui" for dep in deps
             if dep.startswith(UI_FORBIDDEN)]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    deps = {name: {d for d in found if d.startswith("castui")} for name, found in graph().items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(deps.get(name, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[name] = 2

    for name in sorted(deps):
        if name not in state:
            visit(name, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    """The rules above read real imports: a history module naming the engine is caught."""
    source = tmp_path / "store.py"
    source.write_text("from castui.engine.monitor import Monitor\n"
                      "def f():\n    from textual.app import App\n")
    found = imports(source, set(modules()))
    assert found == {"castui.engine.monitor", "textual"}
