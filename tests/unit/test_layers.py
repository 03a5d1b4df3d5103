"""Import edges between layers (STYLE.md §6.2), read from every module's AST: nothing here imports the code.

Every module belongs to one layer of LAYERS, which lists the mycpaas layers it may import (its own always);
docs/architecture.md draws exactly this table. Frameworks are fenced separately:

jinja2              only in dashboard/
aiohttp             only in webhooks/ (the outbound HTTP client)
sqlalchemy/alembic  only in storage/, except that services/ may import sqlalchemy.ext.asyncio for type hints
prometheus_client   only in metrics.py (it must set the multiprocess directory before the library's import)
domain/, smpp/      no framework at all
api/                no sqlalchemy; delivery/carriers/: no sqlalchemy, httpx or starlette

and no module takes an underscored (private) name from another mycpaas module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "mycpaas"

FRAMEWORKS = (
    "sqlalchemy",
    "alembic",
    "starlette",
    "httpx",
    "aiohttp",
    "uvicorn",
    "asyncpg",
    "aiosqlite",
    "jinja2",
)


@dataclass(frozen=True)
class Import:
    module: (
        str  # the absolute dotted name that is imported (for `from a import b`: both a and a.b are listed)
    )
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool = False) -> list[Import]:
    """Every import in the module, at any depth (function-level and TYPE_CHECKING imports included)."""
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(Import(target, node.lineno))
            found.extend(
                Import(f"{target}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"
            )
    return found


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def names_used_outside_annotations(source: str, names: set[str]) -> list[tuple[str, int]]:
    tree = ast.parse(source)
    in_annotation: set[int] = set()
    for node in ast.walk(tree):
        annotations: list[ast.AST | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            annotations += [a.annotation for a in every if a is not None]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None:
                in_annotation.update(id(n) for n in ast.walk(annotation))
    return [
        (node.id, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id in names and id(node) not in in_annotation
    ]


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    source: str
    imports: tuple[Import, ...]

    @property
    def rel(self) -> str:
        return self.path.relative_to(PACKAGE).as_posix()

    def importing(self, *prefixes: str) -> list[str]:
        return sorted({f"{i.module} (line {i.line})" for i in self.imports if within(i.module, *prefixes)})


def load_modules() -> list[Module]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        name = module_name(path)
        modules.append(
            Module(name, path, source, tuple(imports_of(source, name, path.name == "__init__.py")))
        )
    return modules


MODULES = load_modules()


def under(*folders: str) -> list[Module]:
    return [m for m in MODULES if any(m.rel.startswith(folder + "/") for folder in folders)]


def ids(modules: list[Module]) -> list[str]:
    return [m.rel for m in modules]


def known_violation(modules: list[Module], rel: str, reason: str) -> list[object]:
    """Mark one module's case as a known, reported layering bug: strict, so fixing it turns the mark red."""
    return [
        pytest.param(m, id=m.rel, marks=pytest.mark.xfail(strict=True, reason=reason))
        if m.rel == rel
        else pytest.param(m, id=m.rel)
        for m in modules
    ]


# ---- the checker itself -------------------------------------------------------------------------------


def test_every_layer_has_modules() -> None:
    for folder in (
        "domain",
        "storage",
        "api",
        "services",
        "delivery",
        "delivery/carriers",
        "smpp",
        "webhooks",
        "dashboard",
    ):
        assert under(folder), folder
    assert {"domain/segments.py", "api/forms.py", "storage/migrations/env.py", "cli/__init__.py"} <= {
        m.rel for m in MODULES
    }


def test_imports_of_sees_every_form_of_import() -> None:
    source = (
        "import sqlalchemy.orm as orm\n"
        "from . import sibling\n"
        "from ..storage import accounts\n"
        "from ..storage.tables import jobs\n"
        "def later():\n"
        "    from mycpaas.api import forms\n"
        "if TYPE_CHECKING:\n"
        "    import httpx\n"
    )
    found = {i.module for i in imports_of(source, "mycpaas.services.thing")}
    assert {
        "sqlalchemy.orm",
        "mycpaas.services.sibling",
        "mycpaas.storage",
        "mycpaas.storage.accounts",
        "mycpaas.storage.tables.jobs",
        "mycpaas.api.forms",
        "httpx",
    } <= found
    package = {i.module for i in imports_of("from .base import Carrier", "mycpaas.delivery", is_package=True)}
    assert "mycpaas.delivery.base.Carrier" in package


def test_annotation_check_tells_hints_from_runtime_use() -> None:
    source = (
        "from sqlalchemy.ext.asyncio import AsyncConnection\n"
        "async def f(conn: AsyncConnection) -> AsyncConnection | None:\n"
        "    x: AsyncConnection = conn\n"
        "    return isinstance(conn, AsyncConnection)\n"
    )
    assert names_used_outside_annotations(source, {"AsyncConnection"}) == [("AsyncConnection", 4)]


# ---- the rules ------------------------------------------------------------------------------------------

COMPOSITION_ROOT = "*"  # may import every layer

# layer -> the layers its modules may import. A layer is a top-level module or package of mycpaas, or
# delivery.carriers; "delivery.pacing" names one module of delivery that the carriers may use.
LAYERS: dict[str, set[str] | str] = {
    "errors": set(),
    "settings": set(),
    "batching": set(),
    "metrics": set(),  # prometheus_client and the standard library only
    "domain": {"errors"},
    "smpp": {"domain.segments", "domain.alphabets"},
    "storage": {"domain", "errors", "batching"},
    "services": {"domain", "storage", "errors", "settings", "metrics"},
    "runner": {"domain", "services", "metrics"},
    "api": {"domain", "errors", "services", "metrics"},
    "dashboard": {"domain", "errors", "services"},
    "delivery": {"domain", "services", "runner", "batching", "delivery.carriers", "metrics"},
    "delivery.carriers": {"domain", "smpp", "delivery.pacing", "metrics"},
    "webhooks": {"domain", "errors", "services", "runner", "batching", "metrics"},
    "devcert": set(),
    "forwarding": set(),
    "bootstrap": COMPOSITION_ROOT,
    "server": COMPOSITION_ROOT,
    "cli": COMPOSITION_ROOT,
    "__main__": COMPOSITION_ROOT,
    "": COMPOSITION_ROOT,  # mycpaas/__init__.py
}


def layer_of(module: str) -> str:
    """`mycpaas.delivery.carriers.smpp` -> delivery.carriers; `mycpaas.services.auth` -> services."""
    parts = module.split(".")[1:]
    if parts[:2] == ["delivery", "carriers"]:
        return "delivery.carriers"
    return parts[0] if parts else ""


def test_every_module_has_a_layer_with_a_rule() -> None:
    """A new package needs a rule (and a line in docs/architecture.md) before it can hold code."""
    assert {layer_of(m.name) for m in MODULES} == set(LAYERS)


def test_layer_of() -> None:
    assert layer_of("mycpaas.delivery.carriers.smpp") == "delivery.carriers"
    assert layer_of("mycpaas.delivery.worker") == "delivery"
    assert layer_of("mycpaas.runner") == "runner"
    assert layer_of("mycpaas") == ""


def allowed(layer: str, imported: str) -> bool:
    rule = LAYERS[layer]
    if rule == COMPOSITION_ROOT or layer_of(imported) == layer:
        return True
    return any(within(imported, f"mycpaas.{entry}") for entry in rule)


@pytest.mark.parametrize("module", MODULES, ids=ids(MODULES))
def test_each_layer_imports_only_what_its_rule_allows(module: Module) -> None:
    layer = layer_of(module.name)
    wrong = sorted(
        f"{i.module} (line {i.line})"
        for i in module.imports
        if within(i.module, "mycpaas") and not allowed(layer, i.module)
    )
    assert wrong == [], f"{layer or 'mycpaas'} may import only {LAYERS[layer]}"


def test_the_rule_check_can_fail() -> None:
    assert not allowed("services", "mycpaas.delivery.carriers.base")
    assert not allowed("services", "mycpaas.runner")
    assert not allowed("smpp", "mycpaas.domain.messages")
    assert allowed("smpp", "mycpaas.domain.segments")
    assert allowed("delivery.carriers", "mycpaas.delivery.pacing")
    assert not allowed("delivery.carriers", "mycpaas.delivery.worker")
    assert not allowed("domain", "mycpaas.storage.queue")
    assert allowed("cli", "mycpaas.storage.migrate")


@pytest.mark.parametrize("module", under("domain", "smpp"), ids=ids(under("domain", "smpp")))
def test_domain_and_smpp_use_no_framework(module: Module) -> None:
    assert module.importing(*FRAMEWORKS) == []


@pytest.mark.parametrize("module", under("api"), ids=ids(under("api")))
def test_api_does_not_reach_into_sql(module: Module) -> None:
    assert module.importing("sqlalchemy", "alembic") == []


@pytest.mark.parametrize("module", under("delivery/carriers"), ids=ids(under("delivery/carriers")))
def test_carriers_know_nothing_of_http_or_sql(module: Module) -> None:
    assert module.importing("sqlalchemy", "alembic", "httpx", "starlette") == []


OUTSIDE_DASHBOARD = [m for m in MODULES if not m.rel.startswith("dashboard/")]


@pytest.mark.parametrize("module", OUTSIDE_DASHBOARD, ids=ids(OUTSIDE_DASHBOARD))
def test_only_the_dashboard_renders_templates(module: Module) -> None:
    assert module.importing("jinja2") == []


OUTSIDE_WEBHOOKS = [m for m in MODULES if not m.rel.startswith("webhooks/")]


@pytest.mark.parametrize("module", OUTSIDE_WEBHOOKS, ids=ids(OUTSIDE_WEBHOOKS))
def test_only_webhooks_speak_outbound_http(module: Module) -> None:
    assert module.importing("aiohttp", "yarl", "httpx") == []


OUTSIDE_STORAGE = [m for m in MODULES if not m.rel.startswith("storage/")]


@pytest.mark.parametrize("module", OUTSIDE_STORAGE, ids=ids(OUTSIDE_STORAGE))
def test_only_storage_imports_sqlalchemy_or_alembic(module: Module) -> None:
    if not module.rel.startswith("services/"):
        assert module.importing("sqlalchemy", "alembic") == []
        return
    # services/ may write `from sqlalchemy.ext.asyncio import X` and use X in annotations only.
    hinted: set[str] = set()
    for node in ast.walk(ast.parse(module.source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "sqlalchemy.ext.asyncio":
            hinted.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert not within(node.module or "", "sqlalchemy", "alembic"), f"line {node.lineno}"
        elif isinstance(node, ast.Import):
            assert not any(within(a.name, "sqlalchemy", "alembic") for a in node.names), f"line {node.lineno}"
    assert names_used_outside_annotations(module.source, hinted) == []


OUTSIDE_METRICS = [m for m in MODULES if m.rel != "metrics.py"]


@pytest.mark.parametrize("module", OUTSIDE_METRICS, ids=ids(OUTSIDE_METRICS))
def test_only_metrics_imports_prometheus_client(module: Module) -> None:
    assert module.importing("prometheus_client") == []


# ---- private names stay private -----------------------------------------------------------------------


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def is_mycpaas_module(dotted: str) -> bool:
    path = SRC.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def private_names_taken(source: str, name: str, is_package: bool = False) -> list[str]:
    """The underscored names a module takes from another mycpaas module: `from m import _x`, or `m._x` of a
    module `m` it imported. What a module shares it names publicly (storage/messages.MESSAGE_COLUMNS, …), so
    that its private parts can change without breaking a module that reached into them."""
    taken = [
        f"{i.module} (line {i.line})"
        for i in imports_of(source, name, is_package)
        if within(i.module, "mycpaas")
        and is_private(i.module.rpartition(".")[2])
        and i.module.rpartition(".")[0] != name
    ]
    bound: dict[str, str] = {}  # local name -> the mycpaas module (or package) it names
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if within(alias.name, "mycpaas"):
                    bound[alias.asname or "mycpaas"] = alias.name if alias.asname else "mycpaas"
        elif isinstance(node, ast.ImportFrom):
            target = imports_of(ast.unparse(node), name, is_package)[0].module
            for alias in node.names:
                if within(target, "mycpaas") and is_mycpaas_module(f"{target}.{alias.name}"):
                    bound[alias.asname or alias.name] = f"{target}.{alias.name}"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        chain, base = [], node.value  # m.sub._x: the object `m.sub`, read from its local name down
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if isinstance(base, ast.Name) and base.id in bound:
            owner = ".".join([bound[base.id], *chain])
            if is_mycpaas_module(owner) and owner != name:
                taken.append(f"{owner}.{node.attr} (line {node.lineno})")
    return taken


def test_the_private_name_check_can_fail() -> None:
    source = (
        "from mycpaas.storage.messages import _COLUMNS as COLUMNS\n"
        "from mycpaas.storage import webhooks as store\n"
        "from ..storage.tables import messages\n"
        "import mycpaas.storage.queue\n"
        "x = store._attempt(row)\n"
        "y = mycpaas.storage.queue._claim\n"
        "z = messages._private_column\n"  # a Table, not a module: not judged here
        "from mycpaas import __version__\n"
        "from mycpaas.storage.group_commit import insert_into as _insert_into\n"  # public, renamed privately
    )
    assert sorted(private_names_taken(source, "mycpaas.storage.failures")) == [
        "mycpaas.storage.messages._COLUMNS (line 1)",
        "mycpaas.storage.queue._claim (line 6)",
        "mycpaas.storage.webhooks._attempt (line 5)",
    ]


@pytest.mark.parametrize("module", MODULES, ids=ids(MODULES))
def test_no_module_takes_another_modules_private_names(module: Module) -> None:
    assert private_names_taken(module.source, module.name, module.path.name == "__init__.py") == []
