#!/usr/bin/env bash
# README command 1: set up from nothing and chat with the default model in this terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/replyloop chat "$@"
