#!/bin/sh
# Undo scripts/install.sh: stop and disable the units, remove them, the drop-in, the polkit
# rule and the program. The config (/etc/upshift), the state (/var/lib/upshift), the app's
# releases and the service user stay unless --purge: a reinstall then finds its floors,
# keys and releases where it left them.
#
#   sudo scripts/uninstall.sh [--purge]
#   scripts/uninstall.sh --root /tmp/img [--purge]
set -eu

ROOT=/
PURGE=0
USER_NAME=upshift
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=${ROOT%/}
at() { printf '%s%s' "$ROOT" "$1"; }
UNITS=/etc/systemd/system

if [ -n "$ROOT" ]; then
  systemctl --root="$ROOT" disable upshift.service upshift-ota.timer >/dev/null 2>&1 || true
  rm -f "$(at $UNITS/multi-user.target.wants/upshift.service)" "$(at $UNITS/timers.target.wants/upshift-ota.timer)"
elif [ -d /run/systemd/system ]; then
  systemctl disable --now upshift-ota.timer upshift.service 2>/dev/null || true
  systemctl stop upshift-ota.service 2>/dev/null || true
fi

rm -f "$(at $UNITS/upshift.service)" "$(at $UNITS/upshift-ota.service)" "$(at $UNITS/upshift-ota.timer)"
rm -rf "$(at $UNITS/upshift.service.d)"
rm -f "$(at /etc/polkit-1/rules.d/50-upshift.rules)"
rm -f "$(at /usr/local/bin/upshift)"
rm -rf "$(at /usr/local/lib/upshift)"
[ -z "$ROOT" ] && [ -d /run/systemd/system ] && systemctl daemon-reload

if [ "$PURGE" = 1 ]; then
  rm -rf "$(at /etc/upshift)" "$(at /var/lib/upshift)" "$(at /var/lib/upshift-app)" "$(at /var/lib/upshift-work)"
  if [ -z "$ROOT" ]; then
    id -u "$USER_NAME" >/dev/null 2>&1 && userdel "$USER_NAME"
  elif grep -q "^$USER_NAME:" "$(at /etc/passwd)" 2>/dev/null; then
    userdel --prefix "$ROOT" "$USER_NAME"
  fi
  echo "upshift removed, with its config, state, releases and user"
else
  echo "upshift removed; kept /etc/upshift, /var/lib/upshift, /var/lib/upshift-app and user $USER_NAME (--purge removes them)"
fi
