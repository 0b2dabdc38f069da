#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite: Debian's server, run as an
# unprivileged user (initdb refuses root), on a free loopback port, fsync off.
#   .ci/postgres.sh start DIR   prints the DATABASE_URL of a fresh empty database
#   .ci/postgres.sh stop DIR    stops the cluster and removes DIR
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a folder for the cluster}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found; run make setup" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); else as=(); fi

case $cmd in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  "${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U zrt -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/../$(basename "$dir").initdb.log" 2>&1
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U zrt zrt_test
  echo "postgresql://zrt@127.0.0.1:$port/zrt_test"
  ;;
stop)
  if [ -d "$dir/data" ]; then "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir" "$dir.initdb.log"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
