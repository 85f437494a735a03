#!/usr/bin/env bash
# A consistent backup of the CRM's PostgreSQL database: scripts/backup_database.sh OUT.dump
# Reads DATABASE_URL (or DATABASE_URL_FILE). pg_dump takes one snapshot, so the web and the workers
# keep running meanwhile. Restore with scripts/restore_database.sh (README: "Backups").
set -euo pipefail
out=${1:?usage: backup_database.sh OUT.dump}
url=${DATABASE_URL:-}
if [[ -z $url && -n ${DATABASE_URL_FILE:-} ]]; then
  url=$(<"$DATABASE_URL_FILE")
fi
case $url in
  postgres://* | postgresql://*) ;;
  *) echo "backup_database: DATABASE_URL must point at PostgreSQL" >&2; exit 2 ;;
esac
partial="$out.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --no-owner --no-privileges --file="$partial" "$url"
# A dump that cannot be read back is no backup: check its table of contents before keeping it.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$out"
echo "backup_database: wrote $out ($(du -h "$out" | cut -f1))"
