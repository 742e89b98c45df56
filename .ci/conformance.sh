#!/usr/bin/env bash
# Starts lam-mcp over HTTP on 127.0.0.1 (a free port) and runs the MCP conformance suite against it, with the
# expected-failures baseline. A regression (or a stale baseline entry) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
node dist/cli.js --transport http --host 127.0.0.1 --port 0 --log-format json --log-level info --tools-dir tools >/dev/null 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
url=""
for _ in $(seq 1 100); do
  url="$(grep -o '"url":"http://[^"]*' "$log" | head -1 | cut -d'"' -f4 || true)"
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "lam-mcp exited before listening" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; echo "lam-mcp did not start" >&2; exit 1; }
echo "conformance: lam-mcp at $url (pid $pid)"
npx --no-install conformance server --url "$url" --expected-failures .ci/conformance-baseline.yml
