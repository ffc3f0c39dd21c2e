"""Configuration: found where documented, checked strictly, one readable line per error."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.settings import load_kiosk_settings
from presence.config import ConfigError
from server.settings import load_settings, secret_key
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PRESENCE_CONFIG", "PRESENCE_SECRET_KEY", "PRESENCE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PRESENCE_KIOSK_TOKEN", raising=False)


def test_shipped_config_is_valid_for_the_server() -> None:
    settings = load_settings(ROOT / "config.toml")
    assert settings.presence.debounce_seconds == 60
    assert settings.database_url.startswith("sqlite:///")


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nprot = 5000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == f"{path}: [server] prot: unknown key"


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[presence]\ndebounce_seconds = "sixty"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [presence] debounce_seconds: ")
    assert "\n" not in message


def test_out_of_range_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[server\] port: "):
        load_settings(write(tmp_path, "[server]\nport = 70000\n"))


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[sever\]: unknown section"):
        load_settings(write(tmp_path, "[sever]\nport = 1\n"))


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "[server\n"))
    assert str(caught.value).startswith(f"{path_of(tmp_path)}: not valid TOML")


def path_of(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def test_missing_required_value_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[kiosk]\nserver_url = "http://127.0.0.1:5000"\n')
    with pytest.raises(ConfigError) as caught:
        load_kiosk_settings(path)
    assert str(caught.value) == f"{path}: [kiosk] token: missing required value"


def test_kiosk_reads_only_its_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        '[server]\nport = 1\n[kiosk]\nserver_url = "https://presence.example"\ntoken = ""\n',
    )
    monkeypatch.setenv("PRESENCE_KIOSK_TOKEN", "pk_from_env")
    settings = load_kiosk_settings(path)
    assert settings.kiosk.token == "pk_from_env"


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[server]\nsecret_key = "from-file"\n')
    monkeypatch.setenv("PRESENCE_SECRET_KEY", "from-env")
    monkeypatch.setenv("PRESENCE_DATABASE_URL", "postgresql+psycopg://db.example/presence")
    settings = load_settings(path)
    assert settings.server.secret_key == "from-env"
    assert settings.database_url == "postgresql+psycopg://db.example/presence"


def test_config_found_through_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[server]\nport = 5123\n")
    monkeypatch.setenv("PRESENCE_CONFIG", str(path))
    assert load_settings().server.port == 5123


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.toml")


def test_no_file_in_working_folder_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().server.port == 5000


def test_generated_secret_key_is_kept(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, f'[server]\ndata_dir = "{tmp_path / "data"}"\n'))
    first = secret_key(settings)
    assert len(first) >= 32
    assert secret_key(settings) == first
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


def test_a_file_from_before_gevent_still_loads(tmp_path: Path) -> None:
    """`[server] threads` sized the threaded server; it is ignored now, not refused."""
    path = tmp_path / "config.toml"
    path.write_text("[server]\nthreads = 64\n", encoding="utf-8")
    assert load_settings(path).server.connections == 2000
