"""The package's import rules, enforced (docs/architecture.md draws them).

- Imports point down the layers: specs, catalog, scenario, physics and workload, build, engine,
  results, then the studies and the front door (``api``), then the command line.
- No import cycles between modules, and no function-level import of a maiasim module to dodge one
  (function-level imports are kept for optional or slow third-party packages only).
- The library never imports a front end (the CLI), and only the engine imports simpy.
- Nothing outside the repository is read at run time, and modules stay small.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "maiasim"

#: layer of each top-level part of the package; a module may import its own layer or lower ones
LAYERS: dict[str, int] = {
    "errors": 0, "spec": 0,
    "catalog": 1,
    "scenario": 2,
    "physics": 3, "workload": 3,
    "build": 4,
    "engine": 5,
    "results": 6,
    "calibrate": 7, "plot": 7,
    "api": 8, "studies": 8,
    "cli": 9, "__main__": 9, "__init__": 9,
}

#: third-party packages a function may import lazily: optional extras, or slow to import and
#: needed by one command only
LAZY_OK = {"dask", "distributed", "matplotlib", "tqdm", "pyarrow", "scipy", "nbformat",
           "nbclient"}

MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                lines.add(getattr(sub, "lineno", -1))
    return lines


def _imports(mod: str) -> tuple[set[str], list[tuple[int, str]]]:
    """(maiasim modules imported at module level, function-level imports as (line, module))."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    skip = _type_checking_lines(tree)
    top, lazy = set(), []
    top_nodes = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = _resolve(mod, is_pkg, node)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        if id(node) in top_nodes:
            top.update(n for n in names if n.split(".")[0] == "maiasim")
        else:
            lazy.extend((node.lineno, n) for n in names)
    return {n for n in top if n in MODULES or n.rsplit(".", 1)[0] in MODULES}, lazy


def _owner(name: str) -> str:
    if name not in MODULES:
        name = name.rsplit(".", 1)[0]
    return name


def _layer(mod: str) -> int:
    parts = mod.split(".")
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS[parts[1]]


def test_every_part_of_the_package_has_a_layer():
    parts = {m.split(".")[1] for m in MODULES if "." in m}
    assert parts <= set(LAYERS), f"give these a layer in LAYERS: {sorted(parts - set(LAYERS))}"


def test_imports_point_down_the_layers():
    bad = []
    for mod in MODULES:
        for imp in _imports(mod)[0]:
            dep = _owner(imp)
            if dep.startswith(mod + ".") or mod.startswith(dep + ".") and dep.count(".") == 1:
                continue  # a package and its own modules
            if _layer(dep) > _layer(mod):
                bad.append(f"{mod} (layer {_layer(mod)}) imports {dep} (layer {_layer(dep)})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = {m: {_owner(i) for i in _imports(m)[0]} - {m} for m in MODULES}
    # a package's __init__ re-exporting its modules is not a cycle with them
    for m in graph:
        graph[m] = {d for d in graph[m] if not (m.startswith(d + ".") and MODULES[d].name ==
                                                "__init__.py")}
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_function_level_imports_of_the_package():
    bad = []
    for mod in MODULES:
        for line, name in _imports(mod)[1]:
            top = name.split(".")[0]
            if top == "maiasim" or (top not in LAZY_OK and not name.startswith("importlib")):
                bad.append(f"{MODULES[mod].relative_to(ROOT)}:{line} imports {name} in a function")
    assert not bad, "\n".join(bad)


def test_the_library_never_imports_the_command_line():
    bad = [m for m in MODULES if not m.startswith("maiasim.cli") and m != "maiasim.__main__"
           and any(_owner(i).startswith("maiasim.cli") for i in _imports(m)[0])]
    assert not bad, f"library modules importing the CLI: {bad}"


def test_only_the_engine_imports_simpy():
    bad = []
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "simpy" for n in names) and not mod.startswith(
                    "maiasim.engine"):
                bad.append(mod)
    assert not bad, f"only maiasim/engine may import simpy: {bad}"


def test_nothing_outside_the_repository_is_read_at_run_time():
    bad = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                v = node.value
                if "../shared" in v or "/work/" in v or "shared/data" in v:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {v[:60]!r}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_modules_stay_small(mod):
    n = len(MODULES[mod].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{MODULES[mod].relative_to(ROOT)} has {n} lines (split it)"


def test_a_router_is_one_module_and_a_registry_line(tmp_path, monkeypatch, capsys):
    """The seam as docs/architecture.md shows it: register a policy, name it in the scenario."""
    import maiasim as ms
    from maiasim.cli import main
    from maiasim.engine import ROUTERS

    class Always0:
        def __init__(self, n, rng):
            pass

        def pick(self):
            return 0

        def done(self, replica):
            pass

    sc = {"name": "r", "horizon_s": 5, "hardware": {"chip": "maia200"}, "model": "llama-3.1-8b",
          "deployment": {"replicas": 3}, "router": {"policy": "always_zero"},
          "workload": [{"name": "w", "arrival": {"type": "poisson", "rate_per_s": 5},
                        "prompt_tokens": {"type": "fixed", "value": 100},
                        "output_tokens": {"type": "fixed", "value": 10}}]}
    p = tmp_path / "r.yaml"
    p.write_text(ms.from_dict(sc).to_yaml(), encoding="utf-8")
    assert main(["validate", str(p)]) == 2
    assert "'always_zero' is not a routing policy" in capsys.readouterr().err
    monkeypatch.setitem(ROUTERS, "always_zero", Always0)
    res = ms.simulate(sc)
    assert (res.requests.replica == 0).all() and len(res.requests) > 5
    assert main(["validate", str(p)]) == 0
