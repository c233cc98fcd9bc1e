#!/bin/sh
# Install upshift as systemd units (README, "Install as systemd units"): the service user,
# the config and state directories with their modes, the program at the path the units run
# (/usr/local/bin/upshift), the units, the polkit rule that lets upshift restart exactly
# the app's unit, and enable them. Run from a built checkout (npm ci && npm run build).
#
#   sudo scripts/install.sh --app-unit myapp.service [--authority]
#   scripts/install.sh --root /tmp/img ...   # into an image or a test dir: no running systemd needed
#
# Options:
#   --root DIR        install below DIR instead of / (user added with useradd --prefix,
#                     units enabled with systemctl --root; nothing is started)
#   --from DIR        the built upshift tree to install (default: this script's checkout)
#   --app-unit UNIT   the application's unit upshift restarts (e.g. myapp.service): polkit rule
#   --authority       also the authority's drop-in (build sandbox) and its work dir
#   --node PATH       the node binary the wrapper runs (default: `command -v node`)
set -eu

ROOT=/
FROM=$(cd "$(dirname "$0")/.." && pwd)
APP_UNIT=
AUTHORITY=0
NODE=$(command -v node || true)
USER_NAME=upshift

die() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --from) FROM=${2:?--from needs a directory}; shift 2 ;;
    --app-unit) APP_UNIT=${2:?--app-unit needs a unit name}; shift 2 ;;
    --authority) AUTHORITY=1; shift ;;
    --node) NODE=${2:?--node needs a path}; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -n "$NODE" ] || die "node not found: install Node 20 or pass --node PATH"
case "$NODE" in /*) ;; *) die "--node must be an absolute path" ;; esac
[ -f "$FROM/dist/src/cli/main.js" ] || die "$FROM/dist/src/cli/main.js is missing: build first (npm ci && npm run build)"
if [ -n "$APP_UNIT" ]; then
  # one unit name, nothing a polkit rule (JavaScript) or a shell could read otherwise
  printf '%s' "$APP_UNIT" | grep -Eq '^[A-Za-z0-9@._-]+\.service$' || die "--app-unit must be a unit name like myapp.service"
fi
ROOT=${ROOT%/}
at() { printf '%s%s' "$ROOT" "$1"; }
SYSTEMD_SRC="$FROM/systemd"
[ -f "$SYSTEMD_SRC/upshift.service" ] || SYSTEMD_SRC=$(cd "$(dirname "$0")/../systemd" && pwd)

# 1. the service user: a system account, no login, no home of its own
if [ -z "$ROOT" ]; then
  id -u "$USER_NAME" >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/upshift --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
else
  mkdir -p "$(at /etc)"
  for f in passwd group shadow gshadow; do [ -e "$(at /etc/$f)" ] || : > "$(at /etc/$f)"; done
  grep -q "^$USER_NAME:" "$(at /etc/passwd)" || useradd --prefix "$ROOT" --system --user-group --home-dir /var/lib/upshift --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
UID_=$(awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$(at /etc/passwd)")
GID_=$(awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$(at /etc/group)")
[ -n "$UID_" ] && [ -n "$GID_" ] || die "user $USER_NAME was not created"

# 2. directories: config readable by the service, keys and state private to it
dir() { # path mode owner:group
  mkdir -p "$(at "$1")"
  chmod "$2" "$(at "$1")"
  chown "$3" "$(at "$1")"
}
dir /etc/upshift 0750 "0:$GID_"
dir /etc/upshift/keys 0700 "$UID_:$GID_"
dir /var/lib/upshift 0700 "$UID_:$GID_"
# the app's releases: readable by the app's own user, writable by upshift only
dir /var/lib/upshift-app 0755 "$UID_:$GID_"
# the build user passes through to its work trees, and lists nothing
[ "$AUTHORITY" = 1 ] && dir /var/lib/upshift-work 0711 "$UID_:$GID_"

# 3. the program, where the units' ExecStart expects it
LIB=/usr/local/lib/upshift
rm -rf "$(at $LIB)"
mkdir -p "$(at $LIB)" "$(at /usr/local/bin)"
cp -R "$FROM/dist" "$FROM/package.json" "$(at $LIB)/"
[ -d "$FROM/node_modules" ] && cp -R "$FROM/node_modules" "$(at $LIB)/"
chown -R 0:0 "$(at $LIB)"
chmod -R go-w "$(at $LIB)"
cat > "$(at /usr/local/bin/upshift)" <<EOF
#!/bin/sh
exec $NODE $LIB/dist/src/cli/main.js "\$@"
EOF
chmod 0755 "$(at /usr/local/bin/upshift)"

# 4. the units (and the authority's drop-in)
UNITS=/etc/systemd/system
mkdir -p "$(at $UNITS)"
for u in upshift.service upshift-ota.service upshift-ota.timer; do
  install -m 0644 "$SYSTEMD_SRC/$u" "$(at $UNITS/$u)"
done
if [ "$AUTHORITY" = 1 ]; then
  mkdir -p "$(at $UNITS/upshift.service.d)"
  install -m 0644 "$SYSTEMD_SRC/upshift-authority.conf" "$(at $UNITS/upshift.service.d/authority.conf)"
fi

# 5. least privilege to restart the app: polkit, for exactly `systemctl restart $APP_UNIT`
if [ -n "$APP_UNIT" ]; then
  mkdir -p "$(at /etc/polkit-1/rules.d)"
  sed "s/@APP_UNIT@/$APP_UNIT/g" "$SYSTEMD_SRC/upshift-restart-app.rules.in" > "$(at /etc/polkit-1/rules.d/50-upshift.rules)"
  chmod 0644 "$(at /etc/polkit-1/rules.d/50-upshift.rules)"
else
  echo "install.sh: no --app-unit: upshift cannot restart the app until a polkit rule allows it" >&2
fi

# 6. enable (and start, on a running system with a config)
CONFIG=/etc/upshift/upshift.yaml
if [ -n "$ROOT" ]; then
  systemctl --root="$ROOT" enable upshift.service upshift-ota.timer >/dev/null 2>&1 || {
    mkdir -p "$(at $UNITS/multi-user.target.wants)" "$(at $UNITS/timers.target.wants)"
    ln -sf "$UNITS/upshift.service" "$(at $UNITS/multi-user.target.wants/upshift.service)"
    ln -sf "$UNITS/upshift-ota.timer" "$(at $UNITS/timers.target.wants/upshift-ota.timer)"
  }
elif [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ -f "$CONFIG" ]; then
    systemctl enable --now upshift.service upshift-ota.timer
  else
    systemctl enable upshift.service upshift-ota.timer
  fi
else
  echo "install.sh: systemd is not running: units installed, enable them when it is" >&2
fi

echo "upshift installed: /usr/local/bin/upshift, units in $UNITS, user $USER_NAME ($UID_:$GID_)"
if [ ! -f "$(at $CONFIG)" ]; then
  echo "next: write $CONFIG (upshift init --dir /etc/upshift, then chown $USER_NAME the keys),"
  echo "      then: systemctl start upshift.service upshift-ota.timer"
fi
