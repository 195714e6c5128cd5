#!/bin/sh
# Starts the gateway: the seed's spelling of `npm start` (both run `node bin/ccg serve`).
# Installs dependencies first (`npm ci`) when node_modules is missing or older than
# package-lock.json. Arguments go to `ccg serve`: ./run.sh --port 8443 --host 0.0.0.0
# Runs in the repository's directory, as `npm start` does: the default data directory is ./.data
# there, and relative paths in arguments are taken from there.
set -eu

cd "$(dirname "$0")"

# The minimum comes from package.json's "engines" so there is one place to change it.
need=$(sed -n 's/.*"node": *">=\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p' package.json)
need_major=${need% *}
need_minor=${need#* }

if ! command -v node >/dev/null 2>&1; then
  echo "run.sh: Node.js is not installed (ccg needs Node $need_major.$need_minor or newer: https://nodejs.org/)" >&2
  exit 1
fi
have=$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)
have_major=${have%%.*}
have_rest=${have#*.}
have_minor=${have_rest%%.*}
if [ "$have_major" -lt "$need_major" ] || { [ "$have_major" -eq "$need_major" ] && [ "$have_minor" -lt "$need_minor" ]; }; then
  echo "run.sh: Node $have is too old: ccg needs Node $need_major.$need_minor or newer (https://nodejs.org/)" >&2
  exit 1
fi

# npm ci writes node_modules/.package-lock.json last; a lock file newer than it means stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "run.sh: installing dependencies (npm ci)…" >&2
  npm ci >&2
fi
# npm ci builds dist/ (the prepare script); a checkout that has modules but no build needs one.
if [ ! -f dist/cli/serve-main.js ]; then
  echo "run.sh: building (npm run build)…" >&2
  npm run build >&2
fi

# glibc gives freed memory back to the kernel once 128 KiB of it is free at the top of a heap:
# under heavy output (64 KiB chunks copied in, then written to LMDB) the gateway then maps
# every page afresh, a page fault each. Keeping up to 32 MiB cut its CPU per MiB streamed by
# about 30 % (docs/OPERATIONS.md, "Heavy output"). Ignored where the C library is not glibc.
case "${GLIBC_TUNABLES:-}" in
  *glibc.malloc.trim_threshold=*) ;;
  *) GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.trim_threshold=33554432"; export GLIBC_TUNABLES ;;
esac

exec node bin/ccg serve "$@"
