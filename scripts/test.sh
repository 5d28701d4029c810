#!/usr/bin/env bash
# README command 2: set up from nothing and run the whole test suite.
# Needs Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, trust auth, database test),
# or REPLYLOOP_TEST_REDIS_URL / REPLYLOOP_TEST_PG_ADMIN_URL pointing elsewhere.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev || exit 1
. .venv/bin/activate

# Where setup.sh chose PyTorch's CPU index (Linux without a GPU, or REPLYLOOP_TORCH_INDEX=cpu),
# a CUDA build is a several-GB install nobody asked for: say so rather than test on it.
case "$(scripts/torch-index.sh)" in
  */whl/cpu)
    python -c '
import sys, torch
if torch.version.cuda is not None:
    sys.exit(f"test.sh: torch {torch.__version__} is a CUDA build where the CPU build was chosen "
             "(no GPU here); install the CPU build: .venv/bin/pip install --force-reinstall "
             "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
' || exit 1
    ;;
esac

if ! python -m tests.services; then
  cat >&2 <<'HELP'
Redis and PostgreSQL must be running for the tests. On Debian/Ubuntu, as root:
  apt-get update && apt-get install -y redis-server postgresql
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
  su postgres -c "psql -c \"ALTER USER postgres PASSWORD NULL\"; createdb test"
  (and trust auth for 127.0.0.1 in pg_hba.conf), or set the two URLs above.
HELP
  exit 1
fi

# The console's browser tests drive Debian's Chromium (never a browser Playwright downloads).
chromium="${REPLYLOOP_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing Debian's chromium for the console's browser tests" >&2
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } ||
      echo "test.sh: apt-get could not install chromium; the console's browser tests will fail" >&2
  else
    echo "test.sh: no Chromium at $chromium: as root, apt-get install chromium (or set" \
      "REPLYLOOP_TEST_CHROMIUM); the console's browser tests fail without it" >&2
  fi
fi

# Lint and types pass today; the test command keeps them so. They run first (a minute
# from cold) and fail the command, but the tests still run, so one run says everything.
checks=0
ruff check . || checks=1
ruff format --check . || checks=1
mypy || checks=1  # the packages in pyproject.toml's [tool.mypy]
[ $checks -eq 0 ] || echo "test.sh: ruff or mypy found problems (above); the tests run anyway" >&2

python -m pytest "$@"
status=$?
if [ $status -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
if [ $status -eq 0 ] && [ $checks -ne 0 ]; then
  echo "test.sh: the tests passed, but ruff or mypy did not (see the start of this run)" >&2
  exit 1
fi
exit $status
