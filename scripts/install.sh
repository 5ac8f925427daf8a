#!/usr/bin/env bash
# Installs qwen-tray from this checkout into ./.venv, then runs `qwen-tray ARGUMENTS` if given any.
#
#   bash scripts/install.sh demo        # install, then the demo (a simulated chat.qwen.ai)
#   bash scripts/install.sh --version   # install, then print the version
#   bash scripts/install.sh             # install only, and say where the command is
#
# 1. Debian/Ubuntu: installs the Debian packages the app uses at run time, with apt-get, as root or through
#    sudo (nothing happens when they are all there). Elsewhere (no apt-get) it says what to install by hand.
# 2. Makes ./.venv from the distribution's Python, /usr/bin/python3, with --system-site-packages, so that
#    Debian's PyGObject (python3-gi) gives the tray its menu whatever `python3` comes first on PATH
#    (pyenv, conda, a self-built one). An existing ./.venv is kept if it is such a venv, or if it has a
#    working PyGObject of its own (scripts/test.sh's); otherwise the script stops and says what to do.
# 3. `pip install .` into it (skipped when this source is already installed there), then checks that the
#    venv can import gi with GTK 3.
# A second run changes nothing and takes well under a second. Our messages go to stderr: stdout is qwen-tray's.
#
# Environment: QWEN_TRAY_SKIP_APT=1 skips the apt-get step (you installed the packages yourself; missing ones
#   are only listed).
# Exit codes: with arguments, qwen-tray's own (0 done, 1 failed, 2 usage); otherwise 0 installed;
#   3 the Debian packages could not be installed (no root and no sudo, or apt-get failed);
#   4 no usable Python (>= 3.10 with venv); 5 ./.venv could not be made or used, or pip install failed;
#   6 the venv cannot import PyGObject with GTK 3 (on Debian/Ubuntu, where it must); 9 an unexpected error.
set -Eeuo pipefail
trap 'echo "install.sh: unexpected failure at line $LINENO: $BASH_COMMAND" >&2; exit 9' ERR
cd "$(dirname "$0")/.."
root=$(pwd)

# What the app uses at run time: the venv module, PyGObject with GTK 3 (the tray's menu), the
# AyatanaAppIndicator typelib (the tray on KDE Plasma and GNOME), and clipboard tools for X11 and Wayland.
# Not libnotify-bin: notifications go straight over D-Bus; notify-send is only a fallback for when that
# fails, and it talks to the same D-Bus.
packages="python3-venv python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 xclip wl-clipboard"
gtk_packages="python3-gi gir1.2-gtk-3.0"
venv=.venv

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
  local code=$1
  shift
  printf 'install.sh: %s\n' "$*" >&2
  exit "$code"
}
# How to run a command as root here: `apt-get …` (we are root), `sudo apt-get …`, or "`apt-get …` as root".
as_root() {
  if [ "$(id -u)" = 0 ]; then echo "\`$*\`"
  elif command -v sudo >/dev/null 2>&1; then echo "\`sudo $*\`"
  else echo "\`$*\` as root"
  fi
}

# 1. Debian packages.
debian=""
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  debian=1
  missing=""
  for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) || status=""
    [ "$status" = "install ok installed" ] || missing="$missing $package"
  done
  missing=${missing# }
  if [ -z "$missing" ]; then
    say "Debian packages: all there ($packages)"
  elif [ "${QWEN_TRAY_SKIP_APT:-}" = 1 ]; then
    say "QWEN_TRAY_SKIP_APT=1: not installing the missing Debian packages: $missing"
  else
    sudo=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null 2>&1 || die 3 "Installing the Debian packages ($missing) needs root, and sudo is not installed: run this script as root (su -), or have root run \`apt-get install --no-install-recommends $missing\`, then run it again."
      sudo="sudo"
    fi
    say "Installing Debian packages${sudo:+ through sudo}: $missing"
    log=$(mktemp)
    # shellcheck disable=SC2086  # $sudo and $missing split into words on purpose
    if ! { $sudo apt-get update -q \
      && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; } >"$log" 2>&1; then
      tail -n 15 "$log" >&2
      rm -f "$log"
      die 3 "apt-get could not install: $missing (its last lines are above; on Ubuntu, gir1.2-ayatanaappindicator3-0.1 needs the universe component)."
    fi
    rm -f "$log"
  fi
else
  say "No apt-get here (not Debian/Ubuntu): install by hand Python >= 3.10 with its venv module, PyGObject with GTK 3 for it (the tray's menu), the AyatanaAppIndicator3 typelib (the tray on KDE and GNOME), and xclip or wl-clipboard. Continuing with the Python part."
fi

# 2. The Python the venv is made from: the distribution's, never whichever python3 is first on PATH.
usable() { [ -x "$1" ] && "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; }
python=/usr/bin/python3
if [ -n "$debian" ]; then
  usable "$python" || die 4 "$python (3.10 or newer, with venv) is missing: run $(as_root apt-get install --no-install-recommends python3-venv), then this again."
elif ! usable "$python"; then
  python=$(command -v python3 || true)
  { [ -n "$python" ] && usable "$python"; } || die 4 "No Python 3.10 or newer with its venv module was found (neither /usr/bin/python3 nor python3 on PATH): install one, then run this again."
  say "Using $python: /usr/bin/python3 is missing or too old, so the venv may not see your distribution's PyGObject."
fi
base_of() { "$1" -c 'import sys; print(sys.base_prefix, "%d.%d" % sys.version_info[:2])'; }
want=$(base_of "$python")

gtk_check='import gi; gi.require_version("Gtk", "3.0"); from gi.repository import Gtk'
if [ -e "$venv" ]; then
  have=$(base_of "$venv/bin/python" 2>/dev/null) || have=""
  if [ "$have" = "$want" ] && grep -Eqi '^include-system-site-packages *= *true' "$venv/pyvenv.cfg" 2>/dev/null; then
    say "Using ./.venv (made from $python with --system-site-packages)"
  elif [ -n "$have" ] && "$venv/bin/python" -c "$gtk_check" >/dev/null 2>&1; then
    say "Using ./.venv as it is (its Python: ${have% *}, with a PyGObject of its own)"
  else
    if [ -n "$have" ]; then have="at ${have% *}"; else have="none that runs"; fi
    die 5 "./.venv exists but is not a venv of $python with --system-site-packages (its Python: $have) and has no PyGObject, so the tray would have no menu. Move it away and run again: rm -rf '$root/$venv' && bash scripts/install.sh $*"
  fi
else
  say "Making ./.venv from $python (--system-site-packages)"
  if ! "$python" -m venv --system-site-packages "$venv" >&2; then
    rm -rf "$venv"
    die 5 "$python -m venv failed (above)${debian:+; run $(as_root apt-get install --no-install-recommends python3-venv), then this again}."
  fi
fi

# 3. pip install ., unless this very source is installed already (or installed editable from here).
source_hash=$({ cat pyproject.toml; find tray_app -type f ! -path '*/__pycache__/*' ! -name '*.py[co]' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)
stamp="$venv/.qwen-tray-source"
if [ -x "$venv/bin/qwen-tray" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$source_hash" ]; then
  say "qwen-tray in ./.venv is up to date"
elif [ -x "$venv/bin/qwen-tray" ] && [[ "$("$venv/bin/python" -m pip show qwen-tray 2>/dev/null || true)" \
  == *$'\n'"Editable project location: $root"* ]]; then
  say "qwen-tray in ./.venv is an editable install of this checkout: leaving it"
else
  say "Installing qwen-tray into ./.venv (pip install .)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check . >&2 \
    || die 5 "pip install . failed (above): it needs PyPI (or a configured index) for the dependencies."
  echo "$source_hash" >"$stamp"
fi

if [ "$(uname -s)" = Linux ] && ! "$venv/bin/python" -c "$gtk_check" >/dev/null 2>&1; then
  if [ -n "$debian" ]; then
    die 6 "./.venv cannot import PyGObject with GTK 3, so the tray would have no menu. Run $(as_root apt-get install --no-install-recommends "$gtk_packages"), then this again."
  fi
  say "Warning: ./.venv cannot import PyGObject with GTK 3, so the tray will have no menu (left click still copies; the command line and the daemon are unaffected). Install your distribution's PyGObject and GTK 3 for $python (Fedora: python3-gobject gtk3; Arch: python-gobject gtk3), or build it into the venv with \`$venv/bin/pip install '.[gtk]'\` (needs the gobject-introspection and cairo development files), then run this again."
fi

if [ $# -gt 0 ]; then
  say "Running: $venv/bin/qwen-tray $*"
  exec "$venv/bin/qwen-tray" "$@"
fi
say "Installed: $root/$venv/bin/qwen-tray (try \`$venv/bin/qwen-tray demo\`, or put $root/$venv/bin on your PATH)"
