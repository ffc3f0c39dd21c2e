#!/usr/bin/env python3
"""Set up and run Présence with nothing installed but Python 3.11.

    python3 dev.py serve   # the server on http://127.0.0.1:5000 (SQLite in ./data)
    python3 dev.py demo    # fill the embedded database with a demo Cantine
    python3 dev.py test    # format check, lint, types and the whole test suite
    python3 dev.py audit   # known vulnerabilities in the installed dependencies

The first run creates .venv and installs the project into it; later runs reinstall
only when pyproject.toml changed. Extra arguments go to the command (`test -k api`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def ensure_environment(extra: str) -> None:
    """Create .venv and install the project with `extra` unless already done."""
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py may be run by an older python3)
        sys.exit(f"Présence needs Python 3.11 or newer (this is {sys.version.split()[0]}).")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extra}-{digest}"
    if stamp.exists():
        return
    print(f"Installing Présence [{extra}] into .venv ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[{extra}]"], check=True)
    for old in VENV.glob(f".installed-{extra}-*"):
        old.unlink()
    stamp.touch()


def run(*command: str) -> int:
    return subprocess.run(command, cwd=ROOT).returncode


def audit() -> int:
    """pip-audit over .venv, minus the reviewed advisories of audit-ignore.toml.

    Fails on any other advisory, and on an ignore entry past its review date. When no
    vulnerability service answers (a machine with only a package mirror), nothing could
    be checked: that is said loudly, and fails only with PRESENCE_AUDIT_REQUIRED=1.
    """
    today = datetime.date.today()
    entries = tomllib.loads((ROOT / "audit-ignore.toml").read_text())["ignore"]
    stale = [e["id"] for e in entries if e["review_by"] < today]
    ignored = [e["id"] for e in entries if e["review_by"] >= today]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        command = [str(BIN / "pip-audit"), "--local", "--skip-editable", "--format", "json"]
        command += ["--progress-spinner", "off", "--output", str(report)]
        command += [flag for vuln in ignored for flag in ("--ignore-vuln", vuln)]
        # Its own summary would say "No known vulnerabilities found" of packages it
        # could not check: ours below counts what was really checked.
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if not report.exists():
            print(f"{result.stdout}{result.stderr}== audit failed: pip-audit wrote no report")
            return 1
        found = json.loads(report.read_text())["dependencies"]
    checked = [d for d in found if "skip_reason" not in d]
    vulnerable = [d for d in checked if d["vulns"]]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln["fix_versions"]) or "none yet"
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    for vuln in stale:
        print(f"audit-ignore.toml: {vuln} is past its review date: look at it again")
    print(
        f"== audit: {len(checked)} of {len(found)} packages checked, {len(vulnerable)} vulnerable"
    )
    if not checked and found:
        reason = found[0]["skip_reason"]
        print(f"== AUDIT NOT DONE: no vulnerability service answered ({reason})", flush=True)
        return 1 if os.environ.get("PRESENCE_AUDIT_REQUIRED") == "1" else 0
    return 1 if vulnerable or stale else 0


def main(argv: list[str]) -> int:
    action, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if action == "serve":
        ensure_environment("server")
        return run(str(BIN / "presence"), "serve", *rest)
    if action == "demo":
        ensure_environment("server")
        return run(str(BIN / "presence"), "demo", *rest)
    if action == "test":
        ensure_environment("dev")
        checks = [
            ("ruff format --check", [str(BIN / "ruff"), "format", "--check", "."]),
            ("ruff check", [str(BIN / "ruff"), "check", "."]),
            ("mypy", [str(BIN / "mypy")]),
            ("pytest", [str(PYTHON), "-m", "pytest", *rest]),
        ]
        for name, command in checks:
            print(f"== {name}", flush=True)
            code = run(*command)
            if code:
                print(f"== {name} failed (exit {code})", flush=True)
                return code
        return 0
    if action == "audit":
        ensure_environment("dev")
        return audit()
    print(__doc__)
    return 0 if action in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
