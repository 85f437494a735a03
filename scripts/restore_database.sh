#!/usr/bin/env bash
# Restore a backup into an empty database: scripts/restore_database.sh IN.dump TARGET_URL
# All or nothing (one transaction): a failed restore leaves the target empty. Point DATABASE_URL at
# the target afterwards and run `python manage.py migrate` (it applies nothing when the code and
# the backup are of the same release).
set -euo pipefail
dump=${1:?usage: restore_database.sh IN.dump TARGET_URL}
target=${2:?usage: restore_database.sh IN.dump TARGET_URL}
tables=$(psql "$target" --no-psqlrc --tuples-only --no-align \
  --command "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [[ $tables != 0 ]]; then
  echo "restore_database: the target already has $tables tables; restore into an empty database" >&2
  exit 2
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$target" "$dump"
echo "restore_database: restored $dump"
