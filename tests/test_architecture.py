"""Imports run one way (README, "Architecture"): offers at the bottom, then tracking, conversions,
postbacks and stats; the API, the portal and the manager console on top; `config` under them all.

Each app has two kinds of modules. Its domain (models, services, selectors and the modules of its
rules) may import the domain of its own app and of the apps below it. Its surfaces (traffic
endpoints, portal views, the DRF API, the admin, the forms and filters that read requests, URLs,
tasks, app wiring) sit on top with the `api` and `portal` apps: they may import any app's domain
and the shared pieces of `api` and `portal`, but never another app's endpoints, views, API or admin.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {
    "offers": 0,
    "tracking": 1,
    "conversions": 2,
    "postbacks": 3,
    "stats": 4,
    "alerts": 4,
    "api": 5,
    "portal": 5,
    "manager": 5,
    # Operators' metrics: reads every app's state, as the manager console does.
    "ops": 5,
}
LAYERS = list(RANK)
SURFACES = {"endpoints", "views", "api", "admin", "serializers", "forms", "filters", "urls", "tasks", "apps"}
# Modules that answer requests: only URL configurations import them.
ANSWERING = {"endpoints", "views", "api", "admin"}


def _modules():
    for app in [*LAYERS, "config"]:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield app, path


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            # `from tracking import endpoints` names the module in the imported name.
            yield from ((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)


def _kind(app: str, path: Path) -> str:
    relative = path.relative_to(ROOT / app)
    if relative.parts[0] in ("management", "templatetags", "views"):
        return "surface"
    return "surface" if path.stem in SURFACES else "domain"


def _violation(app: str, path: Path, imported: str) -> str | None:
    parts = imported.split(".")
    target = parts[0]
    if target not in RANK or target == app:
        return None
    if app == "config":
        return None if path.name == "urls.py" else "config imports no app outside config/urls.py"
    if len(parts) > 1 and parts[1] in ANSWERING and path.name != "urls.py":
        return f"imports another app's {parts[1]}"
    if _kind(app, path) == "domain" and RANK[target] > RANK[app]:
        return f"the domain of {app} imports {target}, which sits above it"
    if target in ("api", "portal") and RANK[app] < 5 and _kind(app, path) == "domain":
        return f"the domain of {app} imports {target}"
    return None


def _violations():
    found = []
    for app, path in _modules():
        for imported, line in _imports(path):
            reason = _violation(app, path, imported)
            if reason:
                found.append(f"{path.relative_to(ROOT)}:{line} {imported}: {reason}")
    return sorted(set(found))


def test_imports_run_one_way():
    assert _violations() == []


@pytest.mark.parametrize(
    ("app", "module", "imported", "allowed"),
    [
        ("offers", "services", "tracking.models", False),
        ("tracking", "accept", "offers.access", True),
        ("conversions", "endpoints", "tracking.endpoints", False),
        ("stats", "views", "conversions.views", False),
        ("offers", "api", "api.permissions", True),
        ("offers", "views", "tracking.links", True),
        ("config", "middleware", "tracking.endpoints", False),
        ("config", "urls", "tracking.endpoints", True),
    ],
)
def test_the_rule_tells_a_wrong_import_from_a_right_one(app, module, imported, allowed):
    assert (_violation(app, ROOT / app / f"{module}.py", imported) is None) == allowed
