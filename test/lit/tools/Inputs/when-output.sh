#!/usr/bin/env bash
# when-output.sh OUT ERR ACTION -- COMMAND...
# Runs COMMAND in the background with its standard output in OUT and its
# errors in ERR, waits (up to 60 s) until OUT holds its first bytes, runs
# ACTION with $pid set to COMMAND's process id (e.g. 'kill -INT $pid', or
# truncating a file COMMAND has mapped), then waits for COMMAND and prints
# "exit N": how kiln-run's behaviour under a signal or a changing file is
# tested at a point where it is known to be generating.
set -u
out=$1
err=$2
action=$3
shift 4
"$@" > "$out" 2> "$err" &
pid=$!
for _ in $(seq 600); do
  [ -s "$out" ] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
eval "$action"
wait "$pid"
echo "exit $?"
