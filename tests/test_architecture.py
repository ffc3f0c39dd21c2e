"""The rules of the house, read from every module's imports (those inside functions too).

    kiosk/   the door's program: never the server, and of badges only what checks tokens
    badges/  a small library both sides use: neither kiosk nor server
    server/
      domain/   the rules: no Flask, werkzeug or Socket.IO, nothing of api, web, jobs,
                cli, runtime, errors or i18n
      store/    persistence: nothing of the server beyond itself
      api/      JSON for kiosks and machines: never web
      web/      pages and sockets: never api
      jobs/     work away from requests
      cli/      the commands: loaded by presence.cli by name, imported by nobody

`test_the_house_keeps_its_rules` reads the real tree; the tests after it plant each kind
of forbidden import in a scratch tree, so the checker is shown to catch what it must.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "kiosk", "badges", "presence")

#: Libraries of the web edge: a rule that needs one of them is not a rule.
WEB_LIBRARIES = (
    "flask",
    "flask_babel",
    "flask_login",
    "flask_wtf",
    "flask_smorest",
    "flask_socketio",
    "flask_limiter",
    "flask_talisman",
    "werkzeug",
    "socketio",
    "engineio",
    "wtforms",
)
#: What the domain may import of the server.
DOMAIN_MAY_USE = ("server.domain", "server.store", "server.settings")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in a file, wherever it stands."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from server import cli` imports server.cli; `from flask import g`, flask.g
            for alias in node.names:
                yield node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"


def within(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def broken_rule(importer: str, imported: str) -> str | None:
    """Which rule `importer` breaks by importing `imported`, if any."""
    if within(imported, "server.cli") and not within(importer, "server.cli"):
        return "nothing imports server.cli (presence.cli names its commands as strings)"
    if within(importer, "kiosk") and within(imported, "server"):
        return "the kiosk speaks to the server over HTTP only"
    if within(importer, "kiosk") and within(imported, "badges.cards"):
        return "the kiosk checks tokens; card rendering is the server's"
    if within(importer, "server") and within(imported, "kiosk"):
        return "the server never imports the kiosk"
    if within(importer, "badges") and within(imported, "server", "kiosk"):
        return "badges is a library of both sides: it imports neither"
    if within(importer, "server.domain"):
        if within(imported, *WEB_LIBRARIES):
            return "the domain has no web library (Flask, werkzeug, Socket.IO, forms)"
        if within(imported, "server") and not within(imported, *DOMAIN_MAY_USE):
            return "the domain uses only itself, the store and the settings"
    if within(importer, "server.store") and within(imported, "server"):
        if not within(imported, "server.store"):
            return "the store imports nothing of the server beyond itself"
    if within(importer, "server.api") and within(imported, "server.web"):
        return "the API never imports pages"
    if within(importer, "server.web") and within(imported, "server.api"):
        return "pages never import the API"
    return None


def violations(root: Path) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            importer = module_name(path, root)
            for line, imported in imports_of(path, root):
                if rule := broken_rule(importer, imported):
                    where = path.relative_to(root)
                    found.append(f"{where}:{line} imports {imported}: {rule}")
    return found


def test_the_house_keeps_its_rules() -> None:
    assert violations(ROOT) == []


def test_the_rules_and_the_store_load_no_web_library() -> None:
    """Importing every module of the domain and the store, in a fresh interpreter, loads
    neither Flask nor werkzeug nor Socket.IO: not even through the `server` package."""
    modules = sorted(
        module_name(path, ROOT)
        for layer in ("domain", "store")
        for path in (ROOT / "server" / layer).rglob("*.py")
        if "migrations" not in path.parts
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(WEB_LIBRARIES)!r}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert found.stdout.strip() == "[]"


def test_the_server_is_layered() -> None:
    layers = {p.name for p in (ROOT / "server").iterdir() if (p / "__init__.py").exists()}
    assert {"domain", "store", "api", "web", "jobs", "cli"} <= layers


def plant(root: Path, module: str, source: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in [path.parent, *path.parent.parents]:
        if parent == root:
            break
        (parent / "__init__.py").touch()
    path.write_text(source)


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("kiosk.daemon", "import server.store.models\n", "over HTTP only"),
        ("kiosk.screen", "from badges.cards import qr_png\n", "card rendering"),
        ("server.domain.kiosks", "from kiosk.spool import Spool\n", "never imports the kiosk"),
        ("badges.tokens", "from server.settings import Settings\n", "imports neither"),
        ("server.domain.presence", "def f():\n    from flask import request\n", "web library"),
        ("server.domain.board", "from werkzeug.exceptions import NotFound\n", "web library"),
        ("server.domain.guests", "from server.runtime import runtime\n", "only itself"),
        ("server.domain.meetups", "from server.web import meetups\n", "only itself"),
        ("server.domain.billing", "from ..jobs import outbox\n", "only itself"),
        ("server.store.backup", "from server.settings import Settings\n", "beyond itself"),
        ("server.api.kiosk", "from server.web.live import NAMESPACE\n", "never imports pages"),
        ("server.web.me", "from server.api import errors\n", "never import the API"),
        ("server.jobs.scheduler", "from server import cli\n", "server.cli"),
    ],
)
def test_each_forbidden_import_is_caught(
    tmp_path: Path, module: str, source: str, rule: str
) -> None:
    plant(tmp_path, module, source)
    (found,) = violations(tmp_path)
    assert rule in found and found.startswith(module.replace(".", "/"))


def test_allowed_imports_pass(tmp_path: Path) -> None:
    plant(tmp_path, "server.domain.presence", "from server.store.models import Tap\n")
    plant(tmp_path, "server.web.board", "from server.domain.board import board_state\n")
    plant(tmp_path, "server.cli.commands", "from server.cli.serving import run\n")
    plant(tmp_path, "kiosk.daemon", "from badges.tokens import verify\n")
    assert violations(tmp_path) == []
