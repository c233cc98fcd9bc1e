#!/bin/sh
# `npm test`: compile (scripts/transpile.mjs, no type-checking) and bundle (scripts/bundle.mjs),
# then run tap, with `tsc --noEmit` type-checking everything beside it rather than before it
# (the whole run is CPU-bound on two cores: ~15 s of one core alone, saved). Fails when either
# fails; type errors print after tap's report.
# Arguments go to tap (`npm run test:coverage` passes --no-disable-coverage).
set -u
cd "$(dirname "$0")/.."
# Node 20 reads and parses this CA bundle as it starts, whether the process ever opens a TLS
# connection or not: ~60 ms of CPU for every node process, and a run starts ~850 of them.
# The tests talk to loopback and to certificates they make and pin, never to a host that
# needs an extra CA; the program itself still honours the variable where an operator sets it.
unset NODE_EXTRA_CA_CERTS
rm -rf dist/test .tap/test-results
node scripts/transpile.mjs && node scripts/bundle.mjs || exit 1
mkdir -p .tap
# tap runs each test file with the loaders of the plugins its Test class was built with. An
# install holds the default build, TypeScript and mock included, which .taprc turns off; tap
# rebuilds it at its first run, but only for the runs after (tapjs/tapjs#974): that first
# run, CI's every run, loaded both into every test process (~+30% CPU). Rebuild it first;
# also when the built class is not where this looks (a tap that moved it): ~10 s, not silence.
built=node_modules/@tapjs/test/test-built/dist/esm/index.js
if [ ! -f "$built" ] || grep -q -e '@tapjs/typescript' -e '@tapjs/mock' "$built"; then
  node_modules/.bin/tap build > .tap/build.log 2>&1 || { cat .tap/build.log >&2; exit 1; }
fi
types_log=.tap/typecheck.log
# incremental: a run after a small change re-checks what it touches (~6–10 core-s against ~23
# from nothing); its state is a cache that a fresh `npm ci` drops
mkdir -p node_modules/.cache/upshift
node_modules/.bin/tsc -p tsconfig.json --noEmit --incremental --tsBuildInfoFile node_modules/.cache/upshift/typecheck.tsbuildinfo > "$types_log" 2>&1 &
types=$!
# the relay first, before tap's own hook (test/helpers/relay.mjs)
NODE_OPTIONS="--import=\"$(pwd)/test/helpers/relay.mjs\" ${NODE_OPTIONS:-}" node_modules/.bin/tap "$@"
tests=$?
wait "$types"
checked=$?
if [ "$checked" -ne 0 ]; then
  echo "type-check failed (tsc -p tsconfig.json --noEmit):" >&2
  cat "$types_log" >&2
fi
[ "$tests" -eq 0 ] && [ "$checked" -eq 0 ]
