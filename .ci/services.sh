#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 (trust auth), starting or installing it if needed.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1 && ! ls /etc/postgresql >/dev/null 2>&1; then
  echo "PostgreSQL is not installed: installing it"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  cluster=$(ls /etc/postgresql | head -n 1)
  conf=/etc/postgresql/$cluster/main/pg_hba.conf
  sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(local\s+all\s+all\s+)\S+/\1trust/' "$conf"
  sed -i -E 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$conf"
  # A cluster the install already started must read the new rules.
  pg_up && pg_ctlcluster --skip-systemctl-redirect "$cluster" main reload
fi
if ! pg_up; then
  echo "PostgreSQL is down: starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
for _ in $(seq 1 30); do pg_up && break; sleep 1; done
pg_up || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1" >/dev/null
echo "PostgreSQL is up on 127.0.0.1:5432"
