// The restart command of a harness node, written next to its config as `app-ctl.sh`:
// `restart` stops the app recorded in app.pid and starts `current/app.js` detached (a
// session of its own) on the node's app port; `stop` only stops it. A real node would use
// systemctl; this is the same contract (the command returns once the new process is
// started, and holds no output). Under blue-green (UPSHIFT_SLOT set) it works on that slot
// alone: slot-<slot>.pid, app.js from UPSHIFT_RELEASE_DIR on UPSHIFT_PORT; `stop` without a
// slot stops every app it started. A shell script, not Node: it runs on every restart.
//   sh app-ctl.sh restart|stop APP_DIR [PORT]
export const APP_CTL_FILE = 'app-ctl.sh';

const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export const APP_CTL = `set -u
node=${quoted(process.execPath)}
cmd=$1 app=$2 port=\${3:-}
slot=\${UPSHIFT_SLOT:-}
base=$(dirname "$app")

# running, and not a zombie (nobody reaps orphans in some sandboxes): the state after the last ")"
alive() {
  line=
  read -r line 2>/dev/null < "/proc/$1/stat" || [ -n "$line" ] || return 1
  state=\${line##*) }
  [ "\${state%% *}" != Z ]
}

stop() {
  [ -f "$1" ] || return 0
  pid=
  read -r pid < "$1" || true
  case $pid in
    '' | *[!0-9]*) ;;
    *)
      kill -TERM "$pid" 2>/dev/null
      i=0
      while alive "$pid" && [ $i -lt 150 ]; do sleep 0.02; i=$((i + 1)); done
      if alive "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
      ;;
  esac
  rm -f "$1"
}

if [ -n "$slot" ]; then pidfile=$base/slot-$slot.pid; else pidfile=$base/app.pid; fi
case $cmd in
  restart) stop "$pidfile" ;;
  stop)
    if [ -n "$slot" ]; then stop "$pidfile"
    else for name in app.pid slot-blue.pid slot-green.pid; do stop "$base/$name"; done
    fi ;;
  *) echo "usage: app-ctl.sh restart|stop APP_DIR [PORT]" >&2; exit 2 ;;
esac
[ "$cmd" = restart ] || exit 0
if [ -n "$slot" ]; then
  log=$base/app-$slot.log cwd=\${UPSHIFT_RELEASE_DIR:?} PORT=\${UPSHIFT_PORT:?}
else
  log=$base/app.log cwd=$app/current PORT=$port
fi
export PORT
cd "$cwd" || exit 1
# not a process group leader (no job control here), so setsid needs no fork: $! is the app
setsid "$node" app.js < /dev/null >> "$log" 2>&1 &
printf %s "$!" > "$pidfile"
`;
