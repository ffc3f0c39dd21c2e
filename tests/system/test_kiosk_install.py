"""deploy/kiosk/install.sh, the kiosk's installer, run with `--root DIR` as on a Pi.

With `--root` it writes every file where it would on the Pi, but under DIR, and runs
nothing: the tests put stand-ins for the commands it must not run (apt-get, useradd,
systemctl, modprobe, raspi-config...) first on its PATH, and fail if one was called.
Each file it writes is read as its user reads it: the config by the kiosk's own loader,
the udev rules rule by rule, the desktop's autostart as the session does. A second run
changes nothing; an existing config or token is never overwritten. The systemd units it
installs, and the server's, pass `systemd-analyze verify` and are rated 4.0 or better
("OK") by `systemd-analyze security`.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kiosk.settings import load_kiosk_settings
from tests.conftest import ROOT
from tests.services import require_binary

KIOSK_DEPLOY = ROOT / "deploy" / "kiosk"
INSTALLER = KIOSK_DEPLOY / "install.sh"
UNITS = ROOT / "systemd"
SERVER = "https://presence.example"
TOKEN = "pk_test_0123456789abcdef"
SCREEN = "/usr/local/bin/presence-kiosk-screen"

#: What the installer runs on a Pi, and must not run with --root.
NOT_WITH_ROOT = [
    "apt-get",
    "apt",
    "dpkg-query",
    "pip",
    "pip3",
    "useradd",
    "usermod",
    "groupadd",
    "chown",
    "systemctl",
    "udevadm",
    "modprobe",
    "raspi-config",
    "curl",
]


class Installer:
    """install.sh with --root `root`, a PATH whose first folder holds stand-ins that log
    any call of a command it must not run, and a bare environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.bash = require_binary("bash")
        self.root = tmp_path / "pi"
        stand_ins = tmp_path / "stand-ins"
        stand_ins.mkdir()
        self.calls = tmp_path / "calls.log"
        for name in NOT_WITH_ROOT:
            path = stand_ins / name
            path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{self.calls}"\nexit 1\n')
            path.chmod(0o755)
        self.environment = {
            "PATH": f"{stand_ins}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
        }

    def run(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.bash, str(INSTALLER), "--root", str(self.root), *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        called = self.calls.read_text() if self.calls.exists() else ""
        assert not called, f"with --root the installer ran: {called}"
        return result

    def install(self, *extra: str, session: str = "labwc") -> subprocess.CompletedProcess[str]:
        """The installation of the tests: an NFC reader on the GPIO UART, a token."""
        return self.run(
            "--server",
            SERVER,
            "--reader",
            "nfc",
            "--session",
            session,
            "--desktop-user",
            "pi",
            "--token",
            TOKEN,
            *extra,
        )

    def at(self, path: str) -> Path:
        """Where the Pi's `path` was written."""
        return self.root / path.lstrip("/")

    def snapshot(self) -> dict[str, tuple[int, bytes | None]]:
        """Every file and folder written: its mode, and a file's bytes."""
        found: dict[str, tuple[int, bytes | None]] = {}
        for path in sorted(self.root.rglob("*")):
            mode = stat.S_IMODE(path.lstat().st_mode)
            content = path.read_bytes() if path.is_file() else None
            found[str(path.relative_to(self.root))] = (mode, content)
        return found


@pytest.fixture
def installer(tmp_path: Path) -> Installer:
    return Installer(tmp_path)


def udev_rules(text: str) -> list[dict[str, str]]:
    """Each rule of a udev rules file: its `KEY==value` and `KEY="value"` pairs, keyed
    by the key and its operator."""
    rules = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs = re.findall(r'([A-Z_]+(?:\{[^}]+\})?)\s*(==|!=|:=|\+=|=)\s*"([^"]*)"', line)
        assert pairs, f"not a udev rule: {line}"
        rules.append({f"{key}{operator}": value for key, operator, value in pairs})
    return rules


def the_rule(rules: list[dict[str, str]], matches: dict[str, str]) -> dict[str, str]:
    """The one rule that matches on these keys (`KEY==value`) with these values."""
    found = [
        rule
        for rule in rules
        if all(rule.get(f"{key}==") == value for key, value in matches.items())
    ]
    assert len(found) == 1, f"{matches}: {found}"
    return found[0]


# --- the files it writes -----------------------------------------------------------------


def test_help_prints_the_usage(installer: Installer) -> None:
    result = subprocess.run(
        [installer.bash, str(INSTALLER), "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: sudo deploy/kiosk/install.sh --server URL")
    for option in ["--token", "--reader", "--nfc-device", "--session", "--desktop-user", "--root"]:
        assert option in result.stdout


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--session", "labwc", "--desktop-user", "pi"], "--server URL is needed"),
        (["--server", SERVER, "--desktop-user", "pi"], "--root needs --session"),
        (["--server", SERVER, "--session", "labwc"], "--root needs --desktop-user"),
        (["--server", SERVER, "--session", "gnome", "--desktop-user", "pi"], "--session is"),
        (["--server", "presence.example", "--session", "none"], "--server is the server's"),
        (["--server", SERVER, "--session", "none", "--reader", "rfid"], "--reader is nfc or qr"),
    ],
)
def test_it_refuses_what_it_cannot_do(
    installer: Installer, arguments: list[str], complaint: str
) -> None:
    result = installer.run(*arguments, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_the_config_reads_with_the_kiosks_own_loader(
    installer: Installer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.toml has [kiosk] only, a PN532 on the GPIO UART through /dev/serial0 (right
    on a Pi 3, 4 and 5), the spool in the daemon's state folder; kiosk.env has the
    token on one line (the hand test passes it to `env`), readable by root and the kiosk."""
    installer.install()
    config = installer.at("/etc/presence/config.toml")
    environment = installer.at("/etc/presence/kiosk.env")
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    assert stat.S_IMODE(environment.stat().st_mode) == 0o640
    assert environment.read_text() == f"PRESENCE_KIOSK_TOKEN={TOKEN}\n"

    name, value = environment.read_text().strip().split("=", 1)
    monkeypatch.setenv(name, value)
    settings = load_kiosk_settings(config).kiosk
    assert settings.server_url == SERVER
    assert settings.token == TOKEN
    assert settings.reader == "nfc"
    assert settings.nfc_device == "tty:serial0:pn532"
    assert settings.nfc_targets == ["106A"]
    assert settings.spool_path == "/var/lib/presence-kiosk/spool.db"
    assert (settings.feedback_host, settings.feedback_port) == ("127.0.0.1", 8080)
    assert stat.S_IMODE(installer.at("/var/lib/presence-kiosk").stat().st_mode) == 0o750


@pytest.mark.parametrize(
    ("model", "device"),
    [
        ("Raspberry Pi 4 Model B Rev 1.5", "tty:serial0:pn532"),
        ("Raspberry Pi 3 Model B Plus Rev 1.3", "tty:serial0:pn532"),
        # A Pi 5's /dev/serial0 is its debug connector; the pins' UART is ttyAMA0.
        ("Raspberry Pi 5 Model B Rev 1.0", "tty:AMA0:pn532"),
    ],
)
def test_the_pn532_on_the_gpio_uart_is_named_for_the_model(
    installer: Installer, model: str, device: str
) -> None:
    """The model is read where the Pi has it, /proc/device-tree/model (NUL-terminated)."""
    (installer.root / "proc" / "device-tree").mkdir(parents=True)
    (installer.root / "proc" / "device-tree" / "model").write_bytes(model.encode() + b"\0")
    output = installer.install().stdout
    assert model in output
    config = installer.at("/etc/presence/config.toml").read_text()
    assert f'nfc_device = "{device}"' in config


def test_a_usb_reader_leaves_modemmanager_alone(installer: Installer) -> None:
    output = installer.install("--nfc-device", "usb").stdout
    assert 'nfc_device = "usb"' in installer.at("/etc/presence/config.toml").read_text()
    assert "ModemManager" not in output.split("== ModemManager and pcscd", 1)[1].split("==")[0]
    assert "do_serial_hw" not in output


def test_the_udev_rules_give_each_reader_to_the_kiosks_groups(installer: Installer) -> None:
    installer.install()
    rules = udev_rules(installer.at("/etc/udev/rules.d/60-presence-kiosk.rules").read_text())
    usb_readers = {
        ("072f", "2200"): "ACR122U",
        ("04e6", "5591"): "SCL3711",
        ("054c", "06c1"): "RC-S380",
        ("054c", "06c3"): "RC-S380",
    }
    for (vendor, product), reader in usb_readers.items():
        rule = the_rule(rules, {"ATTR{idVendor}": vendor, "ATTR{idProduct}": product})
        assert rule["SUBSYSTEM=="] == "usb", reader
        assert (rule["GROUP="], rule["MODE="]) == ("plugdev", "0660"), reader
    uart = the_rule(rules, {"SUBSYSTEM": "tty", "KERNEL": "ttyS0|ttyAMA0"})
    assert (uart["GROUP="], uart["MODE="]) == ("dialout", "0660")
    scanner = the_rule(rules, {"SUBSYSTEM": "input"})
    assert scanner["ENV{ID_INPUT_KEYBOARD}=="] == "1"
    assert (scanner["GROUP="], scanner["MODE="]) == ("input", "0660")


def test_the_kernels_nfc_drivers_are_blacklisted_and_unloaded(installer: Installer) -> None:
    result = installer.install()
    text = installer.at("/etc/modprobe.d/presence-kiosk-nfc.conf").read_text()
    blacklisted = {line.split()[1] for line in text.splitlines() if line.startswith("blacklist ")}
    assert blacklisted == {"pn533_usb", "pn533", "nfc"}
    assert "would run: modprobe -r pn533_usb pn533 nfc" in result.stdout


def test_it_says_what_it_would_run_and_what_is_left(installer: Installer) -> None:
    """With --root: the commands of a real installation, and what is left to the operator
    (a serial PN532: ModemManager masked, the UART to turn on and its console off)."""
    output = installer.install().stdout
    for command in [
        "useradd --system --user-group --home-dir /var/lib/presence-kiosk",
        "usermod --append --groups dialout,plugdev,input,audio presence-kiosk",
        "python3 -m venv /opt/presence/.venv",
        f"/opt/presence/.venv/bin/pip install '{ROOT}[kiosk]'",
        "udevadm control --reload",
        "raspi-config nonint do_blanking 1",
        "systemctl mask ModemManager.service",
        "chown root:presence-kiosk /etc/presence/kiosk.env",
        "systemctl daemon-reload",
        "systemctl enable presence-kiosk.service systemd-time-wait-sync.service",
    ]:
        assert f"would run: {command}" in output, command
    left = output.split("Left to do:", 1)[1]
    assert "raspi-config nonint do_serial_hw 0" in left
    assert "raspi-config nonint do_serial_cons 1" in left
    assert f"curl -fsS {SERVER}/healthz" in left
    assert "reboot" in left
    assert "paste the kiosk's token" not in left


def test_the_units_are_installed_as_shipped(installer: Installer) -> None:
    installer.install()
    installed = installer.at("/etc/systemd/system/presence-kiosk.service")
    assert installed.read_bytes() == (UNITS / "presence-kiosk.service").read_bytes()
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    drop_in = installer.at(
        "/etc/systemd/system/systemd-time-wait-sync.service.d/presence-kiosk.conf"
    )
    # An offline kiosk must start anyway: the wait for NTP has an end.
    assert re.search(r"^TimeoutStartSec=\d+s$", drop_in.read_text(), re.MULTILINE)
    journald = installer.at("/etc/systemd/journald.conf.d/presence-kiosk.conf").read_text()
    assert re.search(r"^SystemMaxUse=\d+M$", journald, re.MULTILINE)
    assert "Storage=volatile" not in journald


def test_the_screen_starts_from_the_labwc_autostart(installer: Installer) -> None:
    """labwc: one line in the desktop user's autostart starts the screen script, which
    shows the kiosk's page full screen with Chromium's sandbox on."""
    installer.install(session="labwc")
    autostart = installer.at("/home/pi/.config/labwc/autostart").read_text().splitlines()
    assert autostart.count(f"{SCREEN} &") == 1
    screen = installer.at(SCREEN)
    assert screen.read_bytes() == (KIOSK_DEPLOY / "presence-kiosk-screen").read_bytes()
    assert stat.S_IMODE(screen.stat().st_mode) == 0o755
    code = "\n".join(
        line for line in screen.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    assert "--kiosk" in code and "--no-first-run" in code and "Translate" in code
    assert "http://127.0.0.1:8080/" in code
    assert "--no-sandbox" not in code


def test_the_labwc_blanking_line_goes_and_the_rest_stays(installer: Installer) -> None:
    """raspi-config blanks a labwc screen with a swayidle line in the autostart: gone;
    the user's other lines stay."""
    autostart = installer.at("/home/pi/.config/labwc/autostart")
    autostart.parent.mkdir(parents=True)
    autostart.write_text(
        "/usr/bin/kanshi &\nswayidle -w timeout 600 'wlopm --off \\*' resume 'wlopm --on \\*' &\n"
    )
    installer.install(session="labwc")
    lines = autostart.read_text().splitlines()
    assert lines[0] == "/usr/bin/kanshi &"
    assert not [line for line in lines if "swayidle" in line]
    assert f"{SCREEN} &" in lines


def test_the_wayfire_session_gets_an_autostart_entry_and_no_blanking(
    installer: Installer,
) -> None:
    ini = installer.at("/home/pi/.config/wayfire.ini")
    ini.parent.mkdir(parents=True)
    ini.write_text(
        "[core]\nplugins = autostart idle\n\n[autostart]\npanel = wfrespawn wf-panel-pi\n\n"
        "[idle]\ndpms_timeout=600\n\n[input]\nxkb_layout = fr\n"
    )
    installer.install(session="wayfire")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(ini.read_text())
    assert parser["autostart"]["presence_kiosk"] == SCREEN
    assert parser["autostart"]["panel"] == "wfrespawn wf-panel-pi"
    assert parser["idle"]["dpms_timeout"] == "0"
    assert parser["input"]["xkb_layout"] == "fr"
    assert parser["core"]["plugins"] == "autostart idle"

    before = installer.snapshot()
    installer.install(session="wayfire")
    assert installer.snapshot() == before


def test_the_wayfire_ini_is_made_when_there_is_none(installer: Installer) -> None:
    installer.install(session="wayfire")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(installer.at("/home/pi/.config/wayfire.ini").read_text())
    assert parser["autostart"]["presence_kiosk"] == SCREEN
    assert parser["idle"]["dpms_timeout"] == "0"


def test_the_x11_session_gets_an_xdg_autostart_entry(installer: Installer) -> None:
    """X11 (LXDE-pi): an XDG autostart entry, which leaves LXDE's own autostart file
    (panel, desktop) alone."""
    installer.install(session="x11")
    entry = installer.at("/home/pi/.config/autostart/presence-kiosk-screen.desktop")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(entry.read_text())
    desktop = parser["Desktop Entry"]
    assert (desktop["Type"], desktop["Exec"]) == ("Application", SCREEN)
    assert not installer.at("/home/pi/.config/lxsession").exists()
    assert "would run: raspi-config nonint do_blanking 1" in installer.install(session="x11").stdout


def test_no_session_means_no_screen(installer: Installer) -> None:
    installer.run("--server", SERVER, "--session", "none")
    assert not installer.at(SCREEN).exists()
    assert not installer.at("/home").exists()
    assert installer.at("/etc/systemd/system/presence-kiosk.service").exists()


# --- run again ---------------------------------------------------------------------------


@pytest.mark.parametrize("session", ["labwc", "wayfire", "x11"])
def test_a_second_run_changes_nothing(installer: Installer, session: str) -> None:
    installer.install(session=session)
    before = installer.snapshot()
    assert before, "the first run wrote nothing"

    again = installer.install(session=session)
    assert installer.snapshot() == before
    assert "wrote" not in again.stdout
    assert "unchanged /etc/systemd/system/presence-kiosk.service" in again.stdout
    assert "kept      /etc/presence/kiosk.env" in again.stdout


def test_an_existing_token_and_config_are_never_overwritten(installer: Installer) -> None:
    """A token already in kiosk.env stays, whatever --token says (the file's mode is
    still put right); so does an existing config.toml, whatever --server says."""
    environment = installer.at("/etc/presence/kiosk.env")
    environment.parent.mkdir(parents=True)
    environment.write_text("PRESENCE_KIOSK_TOKEN=pk_the_one_in_use\n")
    environment.chmod(0o644)
    config = installer.at("/etc/presence/config.toml")
    config.write_text('[kiosk]\nserver_url = "https://elsewhere.example"\nreader = "qr"\n')

    result = installer.install()
    assert environment.read_text() == "PRESENCE_KIOSK_TOKEN=pk_the_one_in_use\n"
    assert stat.S_IMODE(environment.stat().st_mode) == 0o640
    assert (
        config.read_text() == '[kiosk]\nserver_url = "https://elsewhere.example"\nreader = "qr"\n'
    )
    assert "--token is not the token in /etc/presence/kiosk.env, which was kept" in result.stdout
    assert f"--server {SERVER} is not the server_url" in result.stdout


def test_a_token_given_later_fills_the_empty_line(installer: Installer) -> None:
    first = installer.run("--server", SERVER, "--session", "none")
    environment = installer.at("/etc/presence/kiosk.env")
    assert environment.read_text() == "PRESENCE_KIOSK_TOKEN=\n"
    assert "paste the kiosk's token" in first.stdout
    assert "would run: systemctl restart presence-kiosk.service" not in first.stdout

    later = installer.run("--session", "none", "--token", TOKEN)  # the config is there
    assert environment.read_text() == f"PRESENCE_KIOSK_TOKEN={TOKEN}\n"
    assert stat.S_IMODE(environment.stat().st_mode) == 0o640
    assert "would run: systemctl restart presence-kiosk.service" in later.stdout


# --- the units ---------------------------------------------------------------------------


def shipped_units() -> list[str]:
    return sorted(path.name for path in UNITS.glob("*.service"))


def test_the_units_are_the_kiosk_and_the_servers() -> None:
    """The browser is started by the desktop session's autostart, not by a unit."""
    assert shipped_units() == [
        "presence-kiosk.service",
        "presence-server.service",
        "presence-server@.service",
    ]


def runnable_copy(unit: Path, folder: Path) -> Path:
    """A copy of `unit` in `folder` whose commands run a program that exists here (the
    venv's `presence` is on the Pi, not on this machine)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = unit.read_text(encoding="utf-8")
    assert "/opt/presence/.venv/bin/presence" in text
    copy = folder / unit.name
    copy.write_text(text.replace("/opt/presence/.venv/bin/presence", "/bin/true"))
    return copy


@pytest.fixture
def installed_units(installer: Installer, tmp_path: Path) -> dict[str, Path]:
    """The kiosk unit as the installer wrote it, and the server units as shipped."""
    installer.install()
    units = {name: UNITS / name for name in shipped_units()}
    units["presence-kiosk.service"] = installer.at("/etc/systemd/system/presence-kiosk.service")
    return units


@pytest.mark.parametrize("name", shipped_units())
def test_systemd_analyze_verify_accepts_the_unit(
    installed_units: dict[str, Path], tmp_path: Path, name: str
) -> None:
    analyze = require_binary("systemd-analyze", "/usr/bin", "/bin")
    unit = runnable_copy(installed_units[name], tmp_path / "verify")
    result = subprocess.run(
        [analyze, "verify", f"./{unit.name}"],
        cwd=unit.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings: none is expected.
    assert result.stderr == "", result.stderr


@pytest.mark.parametrize("name", shipped_units())
def test_systemd_analyze_security_rates_the_unit_ok(
    installed_units: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """4.0 or less is "OK" in systemd-analyze's own scale (0 best, 10 worst)."""
    analyze = require_binary("systemd-analyze", "/usr/bin", "/bin")
    folder = tmp_path / "security"
    folder.mkdir()
    unit = folder / name
    shutil.copyfile(installed_units[name], unit)
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", unit.name],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 4.0, result.stdout
