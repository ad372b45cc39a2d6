#!/bin/sh
# Runs a command inside a memory cgroup limited to N bytes, as a container's memory limit does:
# Node reads the limit at start (process.constrainedMemory) and sizes V8's heap from it.
#   in-memory-cgroup.sh <name> <bytes> <command> [args...]
# cgroup v2 (memory.max) or v1 (memory.limit_in_bytes); needs write access to /sys/fs/cgroup.
set -eu
name=$1 bytes=$2
shift 2
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  dir=/sys/fs/cgroup/$name
  mkdir -p "$dir"
  echo "$bytes" > "$dir/memory.max"
else
  dir=/sys/fs/cgroup/memory/$name
  mkdir -p "$dir"
  echo "$bytes" > "$dir/memory.limit_in_bytes"
fi
echo $$ > "$dir/cgroup.procs"
exec "$@"
