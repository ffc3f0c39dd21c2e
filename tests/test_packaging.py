"""An installed copy has what it needs besides the code.

The deployment guide installs Présence with `pip install '.[server]'`, not from the
source tree: a page template, a static file, a catalogue, the invoices' font or a
migration left out of the wheel is a server that answers 500 or cannot upgrade its
database. This builds the wheel as pip does and looks inside.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The folders whose every file an installed copy needs.
DATA = (
    "kiosk/static",
    "server/fonts",
    "server/store/migrations",
    "server/translations",
    "server/web/static",
    "server/web/templates",
)


def test_the_wheel_carries_every_page_static_file_catalogue_font_and_migration(
    tmp_path: Path,
) -> None:
    # Built from a copy: pip builds in the source folder, and a `build/` left there by an
    # earlier build would hand over files the configuration no longer names.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "docs", "tests"),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("presence-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())

    wanted = {
        path.relative_to(ROOT).as_posix()
        for folder in DATA
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert len(wanted) > 50  # the folders are where this test thinks they are
    assert sorted(wanted - inside) == []
