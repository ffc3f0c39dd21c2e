#!/bin/bash
# From a fresh Raspberry Pi to the kiosk at the door, in one command (docs/kiosk.md):
#
#   sudo deploy/kiosk/install.sh --server https://presence.example.org --reader nfc
#
# Raspberry Pi OS Bookworm or Trixie, 64-bit, on a Pi 4 or 5, run as root. It can be run
# again at any time (after a `git pull`, say): what is in place stays as it is, and the
# config and the token are never overwritten. With --root DIR it writes every file under
# DIR instead, runs nothing, and says what it would run.
set -eu
set -o pipefail
umask 022

usage() {
    cat <<'EOF'
Usage: sudo deploy/kiosk/install.sh --server URL [options]

Installs the Présence kiosk on this Raspberry Pi: the user presence-kiosk, the program in
/opt/presence/.venv, the reader's udev rules and kernel-module blacklist, the screen
(Chromium full screen from the desktop's autostart, no blanking), /etc/presence/config.toml
and kiosk.env, and the systemd unit. Safe to run again: nothing is done twice, and an
existing config or token is never overwritten.

Options:
  --server URL          the Présence server (https://...); needed the first time
  --token TOKEN         the kiosk's token (`presence kiosks add` prints it); without it,
                        paste it into /etc/presence/kiosk.env afterwards
  --reader nfc|qr       an NFC reader (default) or a USB QR scanner
  --nfc-device DEVICE   nfcpy's device: a PN532 on the GPIO UART is tty:serial0:pn532 on a
                        Pi 3 or 4, tty:AMA0:pn532 on a Pi 5 (the default, by model);
                        tty:USB0:pn532 on a USB serial adapter; usb for USB readers
  --qr-device PATH      the QR scanner, /dev/input/by-id/usb-...-event-kbd (found by
                        itself when exactly one scanner is plugged in)
  --source PATH|URL     what to pip-install (default: the checkout this script is in),
                        e.g. git+https://example.org/presence.git@v1.2
  --session NAME        the desktop session: labwc, wayfire, x11, or none for no screen
                        (default: detected)
  --desktop-user NAME   the user the desktop logs in (default: detected)
  --mask-modemmanager   stop and mask ModemManager even for a USB reader (always done for
                        a serial reader: it probes serial ports)
  --root DIR            write the files under DIR and run nothing (needs --session and,
                        unless it is none, --desktop-user)
  -h, --help            this help
EOF
}

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

# --- options -----------------------------------------------------------------------------

ARGUMENTS="$*"
SERVER="" TOKEN="" READER=nfc NFC_DEVICE="" QR_DEVICE="" SOURCE="" SESSION=""
DESKTOP_USER="" ROOT="" MASK_MODEMMANAGER=0

while [ $# -gt 0 ]; do
    option=$1
    case "$option" in
    -h | --help)
        usage
        exit 0
        ;;
    --mask-modemmanager)
        MASK_MODEMMANAGER=1
        shift
        continue
        ;;
    --*=*)
        value=${option#*=}
        option=${option%%=*}
        shift
        ;;
    --*)
        [ $# -ge 2 ] || die "$option needs a value (--help)"
        value=$2
        shift 2
        ;;
    *) die "unexpected argument: $option (--help)" ;;
    esac
    case "$option" in
    --server) SERVER=$value ;;
    --token) TOKEN=$value ;;
    --reader) READER=$value ;;
    --nfc-device) NFC_DEVICE=$value ;;
    --qr-device) QR_DEVICE=$value ;;
    --source) SOURCE=$value ;;
    --session) SESSION=$value ;;
    --desktop-user) DESKTOP_USER=$value ;;
    --root) ROOT=$value ;;
    *) die "unknown option: $option (--help)" ;;
    esac
done

case "$READER" in
nfc | qr) ;;
*) die "--reader is nfc or qr, not '$READER'" ;;
esac
case "$SESSION" in
"" | labwc | wayfire | x11 | none) ;;
*) die "--session is labwc, wayfire, x11 or none, not '$SESSION'" ;;
esac
if [ -n "$SERVER" ]; then
    case "$SERVER" in
    http://* | https://*) ;;
    *) die "--server is the server's address, https://..., not '$SERVER'" ;;
    esac
fi
# These go into a TOML string or an environment file as they are.
for value in "$SERVER" "$TOKEN" "$NFC_DEVICE" "$QR_DEVICE"; do
    case "$value" in
    *[[:space:]\"\'\\]*) die "no spaces, quotes or backslashes in '$value'" ;;
    esac
done

HERE=$(cd "$(dirname "$0")" && pwd)       # deploy/kiosk of the checkout
CHECKOUT=$(cd "$HERE/../.." && pwd)

if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" != / ] || die "--root / is the machine itself: leave --root out"
    [ -n "$SESSION" ] || die "--root needs --session (labwc, wayfire, x11 or none)"
    [ "$SESSION" = none ] || [ -n "$DESKTOP_USER" ] || die "--root needs --desktop-user"
else
    [ "$(id -u)" = 0 ] || die "run it as root: sudo $0 $ARGUMENTS"
fi

VENV=/opt/presence/.venv
KIOSK_USER=presence-kiosk
STATE_DIR=/var/lib/presence-kiosk
CONFIG=/etc/presence/config.toml
ENV_FILE=/etc/presence/kiosk.env
SCREEN=/usr/local/bin/presence-kiosk-screen
SCREEN_LINE="$SCREEN &"

[ -n "$SERVER" ] || [ -f "$ROOT$CONFIG" ] ||
    die "--server URL is needed the first time (the Présence server's address)"

# The Pi's model (under --root too, when DIR has it).
MODEL=""
if [ -r "$ROOT/proc/device-tree/model" ]; then
    MODEL=$(tr -d '\0' <"$ROOT/proc/device-tree/model")
fi
# A PN532 on the GPIO UART (pins 8 and 10): on a Pi 3 or 4 it is the primary UART, which
# /dev/serial0 names (ttyS0, or ttyAMA0 with dtoverlay=disable-bt). On a Pi 5,
# /dev/serial0 is the debug connector's UART (ttyAMA10), and the pins' UART is ttyAMA0.
UART_DEVICE=tty:serial0:pn532
case "$MODEL" in
*"Raspberry Pi 5"* | *"Compute Module 5"*) UART_DEVICE=tty:AMA0:pn532 ;;
esac
if [ "$READER" = nfc ] && [ -z "$NFC_DEVICE" ]; then
    NFC_DEVICE=$UART_DEVICE
fi

# --- helpers -------------------------------------------------------------------------------

CHANGED=0   # some file was written: the daemon is restarted at the end
REBOOT=()   # why the Pi should be rebooted
LEFT=()     # what the operator still has to do

step() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
warn() { printf '   warning: %s\n' "$*"; }
left() { LEFT+=("$*"); }

# The command line of "$@", as one would type it.
quoted() {
    local out="" word
    for word in "$@"; do
        case "$word" in
        "" | *[!A-Za-z0-9_./:=@%+,-]*) out="$out '${word//\'/\'\\\'\'}'" ;;
        *) out="$out $word" ;;
        esac
    done
    printf '%s' "${out# }"
}

# Run a command on the Pi; with --root, only say it.
run() {
    if [ -n "$ROOT" ]; then
        note "would run: $(quoted "$@")"
    else
        note "running: $(quoted "$@")"
        "$@"
    fi
}

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
scratch() { mktemp "$SCRATCH/file.XXXXXX"; }

# Where a path of the Pi is written: itself, or under --root.
at() { printf '%s%s' "$ROOT" "$1"; }

mode_of() { stat -c %a "$1"; }

# put SOURCE PATH MODE: make PATH (a path on the Pi) a copy of SOURCE with MODE, unless
# it already is one. Sets WROTE to 1 when it wrote.
put() {
    local source=$1 path=$2 mode=$3 dest temporary
    dest=$(at "$path")
    WROTE=0
    if [ -f "$dest" ] && cmp -s "$source" "$dest" && [ "$(mode_of "$dest")" = "${mode#0}" ]; then
        note "unchanged $path"
        return 0
    fi
    mkdir -p "$(dirname "$dest")"
    temporary=$(mktemp "$dest.XXXXXX")
    cat "$source" >"$temporary"
    chmod "$mode" "$temporary"
    mv -f "$temporary" "$dest"
    note "wrote     $path"
    WROTE=1
    CHANGED=1
}

# own OWNER PATH: give PATH (on the Pi) to OWNER (user:group).
own() {
    if [ -n "$ROOT" ]; then
        note "would run: chown $1 $2"
    else
        chown "$1" "$2"
    fi
}

# Create DIR (a path on the Pi in the desktop user's home) and its missing parents, owned
# by the desktop user.
user_dir() {
    local dest missing=()
    dest=$(at "$1")
    while [ ! -d "$dest" ]; do
        missing+=("$dest")
        dest=$(dirname "$dest")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    mkdir -p "$(at "$1")"
    if [ -z "$ROOT" ]; then
        chown "$DESKTOP_USER:$DESKTOP_GROUP" "${missing[@]}"
    fi
}

# put_user SOURCE PATH: put, for a file of the desktop user.
put_user() {
    local mode=0644
    [ ! -f "$(at "$2")" ] || mode=$(mode_of "$(at "$2")")
    user_dir "$(dirname "$2")"
    put "$1" "$2" "$mode"
    [ -n "$ROOT" ] || chown "$DESKTOP_USER:$DESKTOP_GROUP" "$2"
}

# ini_set FILE SECTION KEY VALUE: KEY = VALUE in [SECTION] of an INI file (wayfire.ini),
# replacing the key's line if there is one, adding the section if there is none.
ini_set() {
    awk -v section="$2" -v key="$3" -v value="$4" '
        function emit() { print key " = " value; done = 1 }
        # Blank lines are held back, so that a key added to a section goes before them.
        /^[ \t]*$/ { blank = blank $0 "\n"; next }
        /^[ \t]*\[/ {
            if (inside && !done) emit()
            printf "%s", blank
            blank = ""
            inside = ($0 ~ "^[ \t]*\\[" section "\\][ \t]*$")
            if (inside) seen = 1
            print
            next
        }
        { printf "%s", blank; blank = "" }
        inside && $0 ~ "^[ \t]*" key "[ \t]*=" { if (!done) emit(); next }
        { print }
        END {
            if (inside && !done) emit()
            printf "%s", blank
            if (!seen) { if (NR > 0) print ""; print "[" section "]"; emit() }
        }' "$1" >"$1.new"
    mv "$1.new" "$1"
}

# The last value of KEY in lightdm's configuration (the display manager of Raspberry Pi
# OS), or nothing.
lightdm_value() {
    { cat /etc/lightdm/lightdm.conf /etc/lightdm/lightdm.conf.d/*.conf 2>/dev/null || true; } |
        sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" | tail -n 1
}

unit_exists() { systemctl cat "$1" >/dev/null 2>&1; }

# --- the machine ---------------------------------------------------------------------------

step "This machine"
if [ -n "$ROOT" ]; then
    note "--root $ROOT: files are written under it; nothing is installed or run"
    [ -z "$MODEL" ] || note "$MODEL"
else
    # shellcheck disable=SC1091 # the system's, not ours
    codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
    case "$codename" in
    bookworm | trixie) note "Raspberry Pi OS / Debian $codename" ;;
    *) warn "made for Raspberry Pi OS Bookworm or Trixie, this is '$codename': going on" ;;
    esac
    [ "$(uname -m)" = aarch64 ] || warn "made for the 64-bit OS, this is $(uname -m): going on"
    note "${MODEL:-not a Raspberry Pi?}"
fi
case "$MODEL:$NFC_DEVICE" in
*"Raspberry Pi 5"*:tty:serial0:*)
    warn "on a Pi 5, /dev/serial0 is the debug connector: a PN532 on the pins is tty:AMA0:pn532" ;;
*"Raspberry Pi 3"*:tty:AMA0:* | *"Raspberry Pi 4"*:tty:AMA0:*)
    warn "on a Pi 3 or 4, ttyAMA0 is the Bluetooth chip unless dtoverlay=disable-bt:" \
        "a PN532 on the pins is tty:serial0:pn532" ;;
:tty:serial0:*)
    note "model unknown: tty:serial0:pn532 is a PN532 on the pins of a Pi 3 or 4;" \
        "on a Pi 5 give --nfc-device tty:AMA0:pn532" ;;
esac

# The desktop: who logs in, and which session it runs.
if [ -z "$ROOT" ]; then
    if [ -z "$DESKTOP_USER" ]; then
        DESKTOP_USER=$(lightdm_value autologin-user)
    fi
    if [ -z "$DESKTOP_USER" ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        DESKTOP_USER=$SUDO_USER
    fi
    if [ -z "$DESKTOP_USER" ]; then
        DESKTOP_USER=$(getent passwd 1000 | cut -d: -f1 || true)
    fi
    if [ -z "$SESSION" ]; then
        running=$(lightdm_value autologin-session)
        [ -n "$running" ] || running=$(lightdm_value user-session)
        case "$running" in
        *labwc*) SESSION=labwc ;;
        *wayfire*) SESSION=wayfire ;;
        LXDE* | rpd-x | *x11*) SESSION=x11 ;;
        *)
            if command -v labwc >/dev/null; then
                SESSION=labwc
            elif command -v wayfire >/dev/null; then
                SESSION=wayfire
            elif command -v startlxde-pi >/dev/null || command -v lxsession >/dev/null; then
                SESSION=x11
            else
                SESSION=none
                warn "no desktop found (Raspberry Pi OS Lite?): no screen is set up;" \
                    "the kiosk needs the image with desktop for its page"
            fi
            ;;
        esac
    fi
    if [ "$SESSION" != none ]; then
        [ -n "$DESKTOP_USER" ] || die "no desktop user found: give --desktop-user NAME"
        getent passwd "$DESKTOP_USER" >/dev/null || die "no user '$DESKTOP_USER' here"
    fi
fi
if [ "$SESSION" != none ]; then
    case "$DESKTOP_USER" in
    root | "$KIOSK_USER") die "the desktop user is who logs in to the desktop, not $DESKTOP_USER" ;;
    esac
    if [ -n "$ROOT" ]; then
        HOME_DIR=/home/$DESKTOP_USER
        DESKTOP_GROUP=$DESKTOP_USER
    else
        HOME_DIR=$(getent passwd "$DESKTOP_USER" | cut -d: -f6)
        DESKTOP_GROUP=$(id -gn "$DESKTOP_USER")
    fi
    note "desktop: $SESSION session of $DESKTOP_USER ($HOME_DIR)"
fi

# --- packages, user, program ---------------------------------------------------------------

step "Packages"
packages=(python3-venv python3-dev build-essential libusb-1.0-0 curl)
if [ -n "$ROOT" ]; then
    run apt-get install -y --no-install-recommends "${packages[@]}"
else
    missing=()
    for package in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        run apt-get update
        run apt-get install -y --no-install-recommends "${missing[@]}"
    else
        note "all there: ${packages[*]}"
    fi
    if [ "$SESSION" != none ] && ! command -v chromium >/dev/null &&
        ! command -v chromium-browser >/dev/null; then
        warn "Chromium is not installed: sudo apt install chromium"
        left "install Chromium (sudo apt install chromium): the screen needs it"
    fi
fi

step "The user $KIOSK_USER"
# The daemon's user: no login, no home but its spool folder. dialout, plugdev and input
# reach the readers, audio the speaker (the unit also sets these groups).
groups=(dialout plugdev input audio)
if [ -n "$ROOT" ]; then
    run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$KIOSK_USER"
    run usermod --append --groups "$(IFS=,; printf '%s' "${groups[*]}")" "$KIOSK_USER"
else
    if id -u "$KIOSK_USER" >/dev/null 2>&1; then
        note "exists"
    else
        run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin "$KIOSK_USER"
    fi
    missing=()
    for group in "${groups[@]}"; do
        if ! getent group "$group" >/dev/null; then
            warn "no group $group on this system"
        elif ! id -nG "$KIOSK_USER" | tr ' ' '\n' | grep -qx "$group"; then
            missing+=("$group")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        run usermod --append --groups "$(IFS=,; printf '%s' "${missing[*]}")" "$KIOSK_USER"
    else
        note "in the groups ${groups[*]}"
    fi
fi
# The spool's folder (systemd's StateDirectory= makes it too; made here so that the
# hand test in docs/kiosk.md works before the first start). Members' names: 0750.
mkdir -p "$(at "$STATE_DIR")"
chmod 0750 "$(at "$STATE_DIR")"
own "$KIOSK_USER:$KIOSK_USER" "$STATE_DIR"

step "The program in $VENV"
if [ -z "$SOURCE" ]; then
    spec="${CHECKOUT}[kiosk]"
else
    case "$SOURCE" in
    *://* | git+*) spec="presence[kiosk] @ $SOURCE" ;;
    *)
        [ -d "$SOURCE" ] || die "--source $SOURCE: no such folder"
        spec="$(cd "$SOURCE" && pwd)""[kiosk]"
        ;;
    esac
fi
# The installed files and their hashes: a rerun that installs the same code changes
# nothing, and the daemon is then not restarted for it.
installed() {
    cat "$VENV"/lib/python3*/site-packages/presence-*.dist-info/RECORD 2>/dev/null |
        sha256sum | cut -d' ' -f1 || true
}
if [ -n "$ROOT" ]; then
    run python3 -m venv "$VENV"
    run "$VENV/bin/pip" install "$spec"
else
    before=$(installed)
    if [ -x "$VENV/bin/python" ]; then
        note "the virtual environment exists"
    else
        mkdir -p "$(dirname "$VENV")"
        run python3 -m venv "$VENV"
    fi
    run "$VENV/bin/pip" install --quiet "$spec"
    if [ "$(installed)" != "$before" ]; then
        note "installed a new version"
        CHANGED=1
    else
        note "the same version was already installed"
    fi
fi

# --- the reader ----------------------------------------------------------------------------

step "Reader permissions (udev)"
put "$HERE/60-presence-kiosk.rules" /etc/udev/rules.d/60-presence-kiosk.rules 0644
if [ "$WROTE" = 1 ]; then
    { run udevadm control --reload && run udevadm trigger; } ||
        REBOOT+=("udev could not reload its rules")
fi

step "The kernel's NFC drivers"
# They take USB readers before nfcpy can: blacklisted for the next boots, unloaded now.
put "$HERE/presence-kiosk-nfc.conf" /etc/modprobe.d/presence-kiosk-nfc.conf 0644
if [ -n "$ROOT" ]; then
    run modprobe -r pn533_usb pn533 nfc
else
    loaded=()
    for module in pn533_usb pn533 nfc; do
        if grep -qs "^$module " /proc/modules; then
            loaded+=("$module")
        fi
    done
    if [ ${#loaded[@]} -eq 0 ]; then
        note "none loaded"
    elif run modprobe -r "${loaded[@]}"; then
        note "unloaded ${loaded[*]}"
    else
        warn "could not unload ${loaded[*]} (in use)"
        REBOOT+=("the kernel's NFC drivers are still loaded")
    fi
fi

step "ModemManager and pcscd"
serial=0
case "$NFC_DEVICE" in
tty:*) serial=1 ;;
esac
if [ "$serial" = 1 ] || [ "$MASK_MODEMMANAGER" = 1 ]; then
    # It probes serial ports with modem commands, which a PN532 does not survive well.
    if [ -n "$ROOT" ]; then
        run systemctl disable --now ModemManager.service
        run systemctl mask ModemManager.service
    elif ! unit_exists ModemManager.service; then
        note "ModemManager is not installed"
    elif [ "$(systemctl is-enabled ModemManager.service 2>/dev/null || true)" = masked ]; then
        note "ModemManager is already stopped and masked"
    else
        run systemctl disable --now ModemManager.service
        run systemctl mask ModemManager.service
        note "stopped and masked ModemManager: it probes serial ports, the reader's too" \
            "(undo: systemctl unmask ModemManager)"
    fi
elif [ -z "$ROOT" ] && systemctl is-active --quiet ModemManager.service 2>/dev/null; then
    note "ModemManager runs; it leaves USB readers alone (--mask-modemmanager stops it)"
fi
if [ -z "$ROOT" ] && { command -v pcscd >/dev/null || unit_exists pcscd.socket; }; then
    warn "pcscd is installed: it takes USB smart-card readers (an ACR122U) before" \
        "nfcpy can. With a USB reader: sudo systemctl disable --now pcscd.socket pcscd.service"
fi

# --- the screen ----------------------------------------------------------------------------

step "The screen"
if [ "$SESSION" = none ]; then
    note "no desktop session: nothing to show the kiosk's page (--session none)"
else
    put "$HERE/presence-kiosk-screen" "$SCREEN" 0755
    # Screen blanking off: raspi-config knows the session it set up; the idle settings
    # below are the same thing for labwc and wayfire, written here so that they hold.
    if [ -n "$ROOT" ]; then
        run raspi-config nonint do_blanking 1
        run raspi-config nonint do_squeekboard S3
    elif command -v raspi-config >/dev/null; then
        SUDO_USER=$DESKTOP_USER run raspi-config nonint do_blanking 1 ||
            warn "raspi-config could not turn screen blanking off"
        # The kiosk's page has its own keyboard: no on-screen keyboard of the OS on top.
        SUDO_USER=$DESKTOP_USER run raspi-config nonint do_squeekboard S3 2>/dev/null ||
            note "(this raspi-config has no on-screen keyboard setting)"
    else
        note "no raspi-config: not a Raspberry Pi OS?"
    fi

    case "$SESSION" in
    labwc)
        autostart=$HOME_DIR/.config/labwc/autostart
        file=$(scratch)
        if [ -f "$(at "$autostart")" ]; then
            # raspi-config's own way of blanking on labwc is a swayidle line here.
            grep -v swayidle "$(at "$autostart")" >"$file" || true
            if grep -q swayidle "$(at "$autostart")"; then
                note "removing the swayidle line (screen blanking after 10 minutes)"
            fi
        fi
        if ! grep -qxF "$SCREEN_LINE" "$file"; then
            printf '# The Présence kiosk screen (deploy/kiosk/install.sh)\n%s\n' \
                "$SCREEN_LINE" >>"$file"
        fi
        put_user "$file" "$autostart"
        ;;
    wayfire)
        ini=$HOME_DIR/.config/wayfire.ini
        file=$(scratch)
        if [ -f "$(at "$ini")" ]; then
            cat "$(at "$ini")" >"$file"
        elif [ -f "$(at /etc/wayfire/template.ini)" ]; then
            # Raspberry Pi OS makes wayfire.ini from this at the first login.
            cat "$(at /etc/wayfire/template.ini)" >"$file"
        fi
        ini_set "$file" autostart presence_kiosk "$SCREEN"
        ini_set "$file" idle dpms_timeout 0
        put_user "$file" "$ini"
        ;;
    x11)
        # An XDG autostart entry: LXDE-pi runs it, and it leaves the desktop's own
        # autostart file (panel, desktop) as it is.
        file=$(scratch)
        cat >"$file" <<EOF
[Desktop Entry]
Type=Application
Name=Présence kiosk screen
Comment=Chromium full screen on the kiosk's page (deploy/kiosk/install.sh)
Exec=$SCREEN
NoDisplay=true
X-GNOME-Autostart-enabled=true
EOF
        put_user "$file" "$HOME_DIR/.config/autostart/presence-kiosk-screen.desktop"
        ;;
    esac
    if [ "$WROTE" = 1 ]; then
        REBOOT+=("the desktop starts the kiosk screen at its next login")
    fi
    if [ -z "$ROOT" ]; then
        if [ -z "$(lightdm_value autologin-user)" ]; then
            left "log the desktop in by itself at boot: sudo raspi-config nonint do_boot_behaviour B4"
        fi
        old_unit=$HOME_DIR/.config/systemd/user/presence-kiosk-browser.service
        if [ -f "$old_unit" ]; then
            warn "$old_unit (from older instructions) would start a second browser:" \
                "remove it (as $DESKTOP_USER: systemctl --user disable presence-kiosk-browser)"
        fi
    fi
fi

# --- configuration and token ---------------------------------------------------------------

step "Configuration"
mkdir -p "$(at /etc/presence)"
if [ -f "$(at "$CONFIG")" ]; then
    note "kept      $CONFIG (never overwritten: edit it by hand)"
    if [ -n "$SERVER" ] && ! grep -qF "\"$SERVER\"" "$(at "$CONFIG")"; then
        warn "--server $SERVER is not the server_url of $CONFIG, which was kept"
    fi
else
    if [ "$READER" = qr ] && [ -z "$QR_DEVICE" ] && [ -z "$ROOT" ]; then
        scanners=()
        for device in /dev/input/by-id/usb-*-event-kbd; do
            [ ! -e "$device" ] || scanners+=("$device")
        done
        if [ ${#scanners[@]} -eq 1 ]; then
            QR_DEVICE=${scanners[0]}
            note "QR scanner: $QR_DEVICE"
        fi
    fi
    file=$(scratch)
    cat >"$file" <<EOF
# The Présence kiosk (docs/kiosk.md): only [kiosk], whose keys the project's config.toml
# explains. Written once by deploy/kiosk/install.sh, never overwritten: edit it here,
# then sudo systemctl restart presence-kiosk. The token is in $ENV_FILE.
[kiosk]
server_url = "$SERVER"
# On the durable, writable disk: taps wait here until the server has them.
spool_path = "$STATE_DIR/spool.db"
reader = "$READER"
# A PN532 on the GPIO UART: "tty:serial0:pn532" on a Pi 3 or 4, "tty:AMA0:pn532" on a
# Pi 5 (its /dev/serial0 is the debug connector). "tty:USB0:pn532": on a USB serial
# adapter; "usb": a USB reader (RC-S380, SCL3711, ACR122U).
nfc_device = "${NFC_DEVICE:-$UART_DEVICE}"
# MIFARE and NTAG badges. Each technology added slows every read.
nfc_targets = ["106A"]
# The QR scanner: ls /dev/input/by-id/ (a name ending in -event-kbd).
qr_device = "$QR_DEVICE"
language = "fr"
# A sound for each greeting, where a speaker is plugged in, e.g.
# "aplay -q -D plughw:CARD=vc4hdmi0 /usr/share/sounds/alsa/Front_Center.wav" (aplay -L
# lists the cards).
sound_command = ""
EOF
    put "$file" "$CONFIG" 0644
fi
if [ "$READER" = qr ] && grep -q '^qr_device = ""' "$(at "$CONFIG")"; then
    left "name the QR scanner in $CONFIG: qr_device = \"/dev/input/by-id/usb-...-event-kbd\"" \
        "(ls /dev/input/by-id/), then sudo systemctl restart presence-kiosk"
fi

# The token, readable by root and the kiosk only. One line and no comment, so that the
# hand test of docs/kiosk.md can pass it to `env`.
env_file=$(at "$ENV_FILE")
token_now=""
if [ -f "$env_file" ]; then
    token_now=$(sed -n 's/^PRESENCE_KIOSK_TOKEN=//p' "$env_file" | tail -n 1)
fi
if [ -n "$token_now" ]; then
    note "kept      $ENV_FILE (it has a token: never overwritten)"
    if [ -n "$TOKEN" ] && [ "$TOKEN" != "$token_now" ]; then
        warn "--token is not the token in $ENV_FILE, which was kept: edit the file to change it"
    fi
else
    file=$(scratch)
    if [ -f "$env_file" ]; then
        grep -v '^PRESENCE_KIOSK_TOKEN=' "$env_file" >"$file" || true
    fi
    printf 'PRESENCE_KIOSK_TOKEN=%s\n' "$TOKEN" >>"$file"
    if [ -f "$env_file" ] && [ -z "$TOKEN" ]; then
        note "kept      $ENV_FILE (no token in it yet)"
    else
        put "$file" "$ENV_FILE" 0640
    fi
    token_now=$TOKEN
fi
if [ "$(mode_of "$env_file")" != 640 ]; then
    chmod 0640 "$env_file"
    note "made $ENV_FILE readable by root and $KIOSK_USER only (0640)"
fi
own "root:$KIOSK_USER" "$ENV_FILE"

# --- systemd -------------------------------------------------------------------------------

step "systemd"
units_changed=0
put "$CHECKOUT/systemd/presence-kiosk.service" /etc/systemd/system/presence-kiosk.service 0644
units_changed=$((units_changed + WROTE))
# The kiosk starts once NTP has set the clock, or after 90 s without network.
put "$HERE/time-wait-sync.conf" \
    /etc/systemd/system/systemd-time-wait-sync.service.d/presence-kiosk.conf 0644
units_changed=$((units_changed + WROTE))
put "$HERE/journald.conf" /etc/systemd/journald.conf.d/presence-kiosk.conf 0644
journal_changed=$WROTE
if [ -n "$ROOT" ] || [ "$units_changed" -gt 0 ]; then
    run systemctl daemon-reload
fi
if [ -n "$ROOT" ] || [ "$journal_changed" = 1 ]; then
    run systemctl restart systemd-journald.service
fi
if [ -n "$ROOT" ]; then
    run systemctl enable presence-kiosk.service systemd-time-wait-sync.service
elif systemctl is-enabled --quiet presence-kiosk.service 2>/dev/null &&
    systemctl is-enabled --quiet systemd-time-wait-sync.service 2>/dev/null; then
    note "presence-kiosk and systemd-time-wait-sync are enabled"
else
    run systemctl enable presence-kiosk.service systemd-time-wait-sync.service
fi
if [ -z "$token_now" ]; then
    note "presence-kiosk is not started: it has no token yet"
elif [ -n "$ROOT" ]; then
    run systemctl restart presence-kiosk.service
elif [ "$CHANGED" = 1 ] || ! systemctl is-active --quiet presence-kiosk.service; then
    run systemctl restart presence-kiosk.service
else
    note "presence-kiosk runs, and nothing changed"
fi

# --- what is left --------------------------------------------------------------------------

if [ -z "$token_now" ]; then
    left "paste the kiosk's token (on the server: presence kiosks add NAME --site SITE):" \
        "sudoedit $ENV_FILE -> PRESENCE_KIOSK_TOKEN=pk_..., then" \
        "sudo systemctl restart presence-kiosk"
fi
server_url=$(sed -n 's/^server_url = "\(.*\)"$/\1/p' "$(at "$CONFIG")" | head -n 1)
left "check the server answers from here: curl -fsS ${server_url%/}/healthz"
case "$NFC_DEVICE" in
tty:serial0:* | tty:S0:* | tty:AMA0:*)
    uart=unknown
    if [ -z "$ROOT" ] && command -v raspi-config >/dev/null; then
        hardware=$(raspi-config nonint get_serial_hw 2>/dev/null || true)
        console=$(raspi-config nonint get_serial_cons 2>/dev/null || true)
        if [ "$hardware" = 0 ] && [ "$console" = 1 ]; then
            uart=ready
        fi
    fi
    if [ "$uart" != ready ]; then
        left "a PN532 on the GPIO UART needs the UART on and the serial console off:" \
            "sudo raspi-config nonint do_serial_hw 0 && sudo raspi-config nonint do_serial_cons 1"
        REBOOT+=("the UART settings take effect at boot")
    fi
    ;;
esac

printf '\n== Done\n'
if [ ${#REBOOT[@]} -gt 0 ]; then
    left "reboot (sudo reboot): $(IFS=';'; printf '%s' "${REBOOT[*]}" | sed 's/;/; /g')"
fi
if [ ${#LEFT[@]} -gt 0 ]; then
    printf 'Left to do:\n'
    for item in "${LEFT[@]}"; do
        printf -- '- %s\n' "$item"
    done
fi
printf 'The kiosk: journalctl -fu presence-kiosk; its page: http://127.0.0.1:8080/\n'
