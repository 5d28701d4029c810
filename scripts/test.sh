#!/usr/bin/env bash
# README command 2: set up from nothing and run the whole test suite.
# Needs Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, trust auth, database test),
# or REPLYLOOP_TEST_REDIS_URL / REPLYLOOP_TEST_PG_ADMIN_URL pointing elsewhere.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev || exit 1
. .venv/bin/activate

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

python -m pytest "$@"
status=$?
if [ $status -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit $status
