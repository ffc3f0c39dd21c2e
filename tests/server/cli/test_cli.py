"""The `presence` command: each subcommand works and bad arguments get a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from presence.cli import main


@pytest.fixture
def presence(config_file: Path, database_url: str):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    if not database_url.startswith("sqlite"):
        assert runner.invoke(main, ["--config", str(config_file), "db", "upgrade"]).exit_code == 0

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, ["--config", str(config_file), *args], input=input)

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_setting_up_a_space_from_the_command_line(presence) -> None:  # type: ignore[no-untyped-def]
    ok(
        presence(
            "sites",
            "add",
            "La Cantine",
            "--capacity",
            "40",
            "--hours",
            "mon-sat 09:00-19:00",
            "--lat",
            "48.39",
            "--lon",
            "-4.49",
            "--contact-email",
            "bonjour@example.org",
        )
    )
    ok(presence("members", "add", "--given-name", "Alice", "--email", "alice@example.org"))
    ok(presence("badges", "assign", "alice@example.org", "04:a2:24:b2:c3:5a:80"))
    token = ok(presence("kiosks", "add", "porte", "--site", "la-cantine")).strip().splitlines()[-1]

    assert token.startswith("pk_")
    listed = ok(presence("members", "list"))
    assert "…5A80" in listed and "04A224B2C35A80" not in listed  # a hint, never the UID
    assert "la-cantine" in ok(presence("sites", "list"))
    assert "porte" in ok(presence("kiosks", "list"))

    rotated = ok(presence("kiosks", "rotate-token", "porte")).strip()
    assert rotated.startswith("pk_") and rotated != token


def test_members_import_from_csv(presence, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "members.csv"
    good.write_text(
        "given_name;family_name;email;plan;skills\n"
        "Zoé;Le Gall;zoe@example.org;pack;Python|accessibilité\n"
        "Yann;Kerouac;yann@example.org;monthly;\n",
        encoding="utf-8",
    )
    assert "imported 2 member(s)" in ok(presence("members", "import", str(good)))
    listing = ok(presence("members", "list"))
    assert "Zoé Le Gall" in listing and "Yann Kerouac" in listing


def test_members_import_is_all_or_nothing(presence, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "members.csv"
    bad.write_text(
        "given_name,email,plan\nAnne,anne@example.org,payg\nBruno,not-an-email,payg\n"
        "Chloé,chloe@example.org,gold\n",
        encoding="utf-8",
    )
    result = presence("members", "import", str(bad))
    assert result.exit_code == 1
    assert "line 3: email:" in result.output and "line 4: plan:" in result.output
    assert "nothing imported" in result.output
    assert "Anne" not in ok(presence("members", "list"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sites", "add", "X", "--hours", "monday 9-5"), "days are mon, tue"),
        (("sites", "add", "X", "--timezone", "Mars/Olympus"), "is not a time zone"),
        (("members", "add", "--given-name", "A", "--email", "nope"), "Not a valid email"),
        (("badges", "assign", "nobody@example.org", "04A224B2"), "no member 'nobody@example.org'"),
        (("kiosks", "add", "door", "--site", "nowhere"), "no site 'nowhere'"),
        (("kiosks", "rotate-token", "ghost"), "no kiosk 'ghost'"),
        (("sites", "add", "X", "--lat", "48.4"), "give both latitude and longitude"),
        (
            ("kiosks", "add", "door", "--site", "x", "--mode", "sideways"),
            "'sideways' is not one of",
        ),
    ],
)
def test_bad_arguments_get_a_clear_error(presence, args, message) -> None:  # type: ignore[no-untyped-def]
    result = presence(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_badge_value_that_is_not_a_uid_is_refused(presence) -> None:  # type: ignore[no-untyped-def]
    ok(presence("members", "add", "--given-name", "Alice", "--email", "alice@example.org"))
    result = presence("badges", "assign", "alice@example.org", "hello")
    assert result.exit_code == 1 and "hexadecimal" in result.output


def test_badge_already_given_to_someone_else_is_refused(presence) -> None:  # type: ignore[no-untyped-def]
    ok(presence("members", "add", "--given-name", "Alice", "--email", "alice@example.org"))
    ok(presence("members", "add", "--given-name", "Bob", "--email", "bob@example.org"))
    ok(presence("badges", "assign", "alice@example.org", "04A224B2"))
    result = presence("badges", "assign", "bob@example.org", "04:a2:24:b2")
    assert result.exit_code == 1 and "already belongs" in result.output


def test_staff_account_with_password_from_stdin(presence) -> None:  # type: ignore[no-untyped-def]
    out = ok(
        presence(
            "staff",
            "add",
            "Nadine@Example.org",
            "--name",
            "Nadine",
            "--role",
            "admin",
            "--password-stdin",
            input="correct horse battery staple\n",
        )
    )
    assert "nadine@example.org (admin)" in out
    short = presence(
        "staff", "add", "x@example.org", "--name", "X", "--password-stdin", input="short\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output


def test_config_error_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("[server]\nport = 'five thousand'\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(broken), "sites", "list"])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: {broken}: [server] port:")
    assert len(result.output.strip().splitlines()) == 1


def test_kiosk_side_never_imports_the_server() -> None:
    """`presence` itself loads no server module: a Pi without Flask can run its part."""
    code = (
        "import sys; import presence.cli, kiosk.settings; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('server', 'flask', 'sqlalchemy', 'flask_socketio')]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_printed_links_start_at_the_public_url_else_at_this_servers_port(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    server = f'[server]\ndata_dir = "{tmp_path}"\nsecret_key = "s"\nport = 5123\n'
    config.write_text(server)
    runner = CliRunner()

    def said(*args: str) -> str:
        result = runner.invoke(main, ["--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    said("sites", "add", "La Cantine", "--slug", "cantine", "--hours", "mon-fri 09:00-18:00")
    said("members", "add", "--given-name", "Ada", "--email", "ada@example.org")
    assert said("sites", "board-link", "cantine").startswith("http://127.0.0.1:5123/board/cantine?")
    config.write_text(server + 'public_url = "https://presence.lacantine.fr/"\n')
    assert said("members", "link", "ada@example.org").startswith(
        "https://presence.lacantine.fr/me/"
    )
    given = said("sites", "board-link", "cantine", "--base-url", "http://10.0.0.2:5000")
    assert given.startswith("http://10.0.0.2:5000/board/cantine?")


def test_serving_raises_the_open_file_limit_that_its_connections_need() -> None:
    """At the usual soft limit of 1,024 files a worker holding a thousand screens stops
    accepting anything, kiosks included: `presence serve` raises it first."""
    script = (
        "import resource\n"
        "from server.cli.serving import _enough_files\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))\n"
        "_enough_files(2000)\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    raised, hard = (int(value) for value in done.stdout.split())
    assert raised == (2256 if hard < 0 or hard >= 2256 else hard)
