"""The documentation stays true: every setting is documented, the configuration page is
current, and the README stays a landing page that links to what exists."""

from __future__ import annotations

import importlib.util
import re
import sys
from types import ModuleType

from tests.conftest import ROOT


def configuration_script() -> ModuleType:
    name = "docs_configuration"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "configuration.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_explained_in_config_toml() -> None:
    undocumented = [
        f"[{key.section}] {key.name}" for key in configuration_script().keys() if not key.comment
    ]
    assert not undocumented, f"comment these in config.toml: {undocumented}"


def test_the_configuration_page_is_current() -> None:
    script = configuration_script()
    assert script.PAGE.read_text(encoding="utf-8") == script.render(), (
        "docs/configuration.md is stale: run .venv/bin/python docs/configuration.py"
    )


def test_the_readme_is_a_landing_page_whose_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 130, "the README is a landing page: move details to docs/"
    for target in re.findall(r"\]\(((?:docs|deploy|bench)/[^)#]+)", readme):
        assert (ROOT / target).exists(), f"the README links to {target}, which is not there"
    for page in (ROOT / "docs").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([\w./-]+\.(?:md|py|png|toml))\)", text):
            assert (page.parent / target).exists(), f"{page.name} links to {target}"
