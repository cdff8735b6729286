#!/usr/bin/env bash
# Run by `make test` before pytest: the browser tests (tests/dashboard) drive Debian's chromium through
# Playwright, which must never download a browser of its own. Already there: nothing to do, instantly.
# Missing: installed with apt-get when we are root on Debian (quietly, once). Still missing: one line says
# the browser tests are skipped, or, when CI is set, the run fails: CI must not pass without them.
set -u
have() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
have && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log=$(mktemp)
  echo "installing chromium for the browser tests (apt-get; once)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2
  fi
  rm -f "$log"
fi
have && exit 0
if [ -n "${CI:-}" ]; then
  echo "CI is set and chromium is missing (not root, or no apt-get): the browser tests cannot run" >&2
  exit 1
fi
echo "browser tests SKIPPED: no chromium on PATH (as root on Debian: apt-get install chromium)"
