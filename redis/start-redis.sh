#!/bin/sh
# Starts kcr's Redis with the password of the Secret kcr-redis (key password), mounted at
# /etc/kcr/redis. redis.conf cannot read a file or an environment variable, and
# `redis-server --requirepass <password>` would show it in the process's arguments
# (/proc/<pid>/cmdline, ps) until Redis rewrites its title. So the password goes into a generated
# file on a memory-backed emptyDir (0600, only this container mounts it) that redis-server
# includes after redis.conf; printf is a shell builtin, so no process is started with it either.
# Arguments are passed on to redis-server after that (tests run it on a free port). The paths
# are the StatefulSet's; the variables exist for tests.
set -eu

secret=${KCR_REDIS_PASSWORD_FILE:-/etc/kcr/redis/password}
auth=${KCR_REDIS_AUTH_CONF:-/run/kcr-redis/auth.conf}
conf=${KCR_REDIS_CONF:-/etc/redis/redis.conf}

if [ ! -s "$secret" ]; then
  echo "kcr-redis: $secret is missing or empty: create the Secret kcr-redis with a key password (README: Redis)" >&2
  exit 1
fi
# $(…) drops the trailing newline an editor or `echo` adds; kcr's components drop it too.
password=$(cat "$secret")
case "$password" in
  *[!A-Za-z0-9+/=._~-]*)
    echo "kcr-redis: the password in Secret kcr-redis may use only A-Z a-z 0-9 + / = . _ ~ - (e.g. openssl rand -hex 32)" >&2
    exit 1
    ;;
esac
if [ "${#password}" -lt 16 ]; then
  echo "kcr-redis: the password in Secret kcr-redis must have at least 16 characters (e.g. openssl rand -hex 32)" >&2
  exit 1
fi

umask 077
printf 'requirepass "%s"\n' "$password" > "$auth"
unset password
exec redis-server "$conf" --include "$auth" "$@"
