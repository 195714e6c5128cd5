#!/bin/sh
# Phone access over a Cloudflare tunnel: the seed's spelling of `ccg tunnel`, with the same
# arguments (see `ccg tunnel --help` and docs/OPERATIONS.md). Start the gateway first (./run.sh).
# Runs in the repository's directory, as ./run.sh and `npm start` do, so the default data
# directory (.data, where the gateway's certificate is) is the one the gateway uses; relative
# paths in arguments are taken from there too.
#   ./scripts/cloudflare-tunnel.sh                      a quick tunnel to https://127.0.0.1:3100
#   ./scripts/cloudflare-tunnel.sh --name ccg --hostname ccg.example.com
set -eu
cd "$(dirname "$0")/.."
exec node bin/ccg tunnel "$@"
