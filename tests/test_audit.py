"""`python3 dev.py audit`: what it decides from pip-audit's report.

pip-audit itself needs a vulnerability service (PyPI's JSON API per release, or OSV),
which this machine cannot reach; here a stand-in `pip-audit` writes the report the real
one would (its JSON format: pip_audit/_format/json.py) and honours `--ignore-vuln`, so
what is tested is our side: reviewed advisories pass, any other fails, a review date
past makes the entry count no more, and an audit that checked nothing says so.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

import pytest

import dev

FAKE = """#!{python}
import json, sys
args = sys.argv[1:]
ignored = {{args[i + 1] for i, a in enumerate(args) if a == "--ignore-vuln"}}
report = {report!r}
for dep in report["dependencies"]:
    if "vulns" in dep:
        dep["vulns"] = [v for v in dep["vulns"] if v["id"] not in ignored]
open(args[args.index("--output") + 1], "w").write(json.dumps(report))
"""

ADVISORY = {"id": "GHSA-aaaa-bbbb-cccc", "fix_versions": ["2.0.1"], "aliases": []}
VULNERABLE = {"name": "somelib", "version": "2.0.0", "vulns": [ADVISORY]}
CLEAN = {"name": "otherlib", "version": "1.0", "vulns": []}
UNREACHABLE = {"name": "otherlib", "version": "1.0", "skip_reason": "not found on PyPI"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    monkeypatch.setattr(dev, "BIN", tmp_path)
    monkeypatch.delenv("PRESENCE_AUDIT_REQUIRED", raising=False)
    (tmp_path / "audit-ignore.toml").write_text("ignore = []\n")
    return tmp_path


def fake_pip_audit(folder: Path, *dependencies: Mapping[str, object]) -> None:
    script = folder / "pip-audit"
    report = {"dependencies": list(dependencies), "fixes": []}
    script.write_text(FAKE.format(python=sys.executable, report=report))
    script.chmod(0o755)


def ignore(folder: Path, review_by: date) -> None:
    (folder / "audit-ignore.toml").write_text(
        f'[[ignore]]\nid = "{ADVISORY["id"]}"\npackage = "somelib"\n'
        f'reason = "only in somelib.extra, which we do not import"\nreview_by = {review_by}\n'
    )


def test_an_advisory_nobody_reviewed_fails_and_is_named(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pip_audit(project, VULNERABLE, CLEAN)
    assert dev.audit() == 1
    out = capsys.readouterr().out
    assert "somelib 2.0.0: GHSA-aaaa-bbbb-cccc (fixed in 2.0.1)" in out
    assert "2 of 2 packages checked, 1 vulnerable" in out


def test_a_reviewed_advisory_passes_until_its_review_date(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_pip_audit(project, VULNERABLE, CLEAN)
    ignore(project, date.today() + timedelta(days=30))
    assert dev.audit() == 0
    ignore(project, date.today() - timedelta(days=1))
    assert dev.audit() == 1
    assert "GHSA-aaaa-bbbb-cccc is past its review date" in capsys.readouterr().out


def test_an_audit_that_could_check_nothing_says_so(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pip_audit(project, UNREACHABLE)
    assert dev.audit() == 0
    assert "AUDIT NOT DONE: no vulnerability service answered" in capsys.readouterr().out
    monkeypatch.setenv("PRESENCE_AUDIT_REQUIRED", "1")
    assert dev.audit() == 1


def test_the_shipped_ignore_list_is_reviewed() -> None:
    entries = tomllib.loads((Path(dev.__file__).parent / "audit-ignore.toml").read_text())
    for entry in entries["ignore"]:
        assert set(entry) == {"id", "package", "reason", "review_by"}, entry
        assert entry["reason"].strip() and isinstance(entry["review_by"], date)
