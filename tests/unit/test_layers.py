"""The layers of `src` point one way (docs/decisions.md, "Layers"): a unit (a package, or a
top-level module) imports only units below it or beside it in its layer, and no two units
import each other.
"""

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Lowest first. The verifier stands alone; the foundations know no domain; the stored event
# (its fields, its table, its committed content) knows neither tenants' keys nor the log;
# auth knows no event; the log reads what auth says of a request; the domains use all these.
LAYERS: list[set[str]] = [
    {"verifier"},
    {
        "config",
        "database",
        "devdb",
        "exceptions",
        "http",
        "lifecycle",
        "logging",
        "metrics",
        "migrations",
        "pagination",
        "periodic",
        "schemas",
        "state",
    },
    {"dependencies"},
    {"events"},
    {"auth"},
    {"log"},
    {"audits", "health", "openai", "retention", "viewer"},  # domains: one may use another's
    {"cli", "main", "models"},  # wiring
]


def layer_of(unit: str) -> int:
    return next(rank for rank, units in enumerate(LAYERS) if unit in units)


def unit_of(module: str) -> str:
    """`src.audits.ingest` -> `audits`; `src.config` -> `config`."""
    return module.split(".")[1]


def imports_between_units() -> dict[tuple[str, str], set[str]]:
    """(importing unit, imported unit) -> the files with such an import."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        unit = unit_of(".".join(path.relative_to(SRC.parent).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
                if node.module == "src":
                    modules = [f"src.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.startswith("src.") and unit_of(module) != unit:
                    found[(unit, unit_of(module))].add(str(path.relative_to(SRC)))
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(f"src.{path.stem if path.is_file() else path.name}") for path in SRC.iterdir()}
    units -= {"__init__", "__pycache__"}
    assert units == set().union(*LAYERS)


def test_imports_point_down() -> None:
    upward = {
        (importer, imported): sorted(files)
        for (importer, imported), files in imports_between_units().items()
        if layer_of(imported) > layer_of(importer)
    }
    assert upward == {}


def test_no_two_units_import_each_other() -> None:
    pairs = imports_between_units()
    cycles = {
        (first, second): (sorted(pairs[first, second]), sorted(pairs[second, first]))
        for first, second in pairs
        if first < second and (second, first) in pairs
    }
    assert cycles == {}
