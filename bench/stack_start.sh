#!/usr/bin/env bash
# How long `goodsflow stack up` takes until both servers answer, and how much memory the two
# servers hold once up. Uses its own stack folder, Maven repository and ports, so a running
# dev stack is not disturbed.
#
#   bench/stack_start.sh [RUNS]        (default 3 runs of each kind; needs .venv: ./dev test)
#
#   cold   empty Maven repository and stack folder: download jars, format, set password
#   fresh  jars already in the Maven repository, empty stack folder
#   warm   restart on existing data
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d)
trap 'goodsflow stack down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export GOODSFLOW_STACK__DIR="$work/stack"
export GOODSFLOW_STACK__KAFKA_PORT=$(free_port)
export GOODSFLOW_STACK__KAFKA_CONTROLLER_PORT=$(free_port)
export GOODSFLOW_STACK__NEO4J_PORT=$(free_port)
export GOODSFLOW_NEO4J__PASSWORD=bench-password-not-secret
export MAVEN_OPTS="-Dmaven.repo.local=$work/m2"

time_up() {  # prints seconds
  local t0 t1
  t0=$(date +%s.%N)
  goodsflow stack up >/dev/null
  t1=$(date +%s.%N)
  python -c "print(f'{$t1 - $t0:.1f}')"
}

rss_mb() {  # resident memory of a recorded server process, MiB
  local pid
  pid=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['pid'])" "$GOODSFLOW_STACK__DIR/run/$1.pid")
  awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$pid/status"
}

for kind in cold fresh warm; do
  times=()
  for _ in $(seq "$runs"); do
    case $kind in
      cold) rm -rf "$work/m2" "$GOODSFLOW_STACK__DIR" ;;
      fresh) rm -rf "$GOODSFLOW_STACK__DIR" ;;
      warm) ;;
    esac
    times+=("$(time_up)")
    [ "$kind" = warm ] && echo "  memory after warm start: kafka $(rss_mb kafka) MiB, neo4j $(rss_mb neo4j) MiB RSS"
    goodsflow stack down >/dev/null
  done
  printf '%-5s up: %s s (median %s s)\n' "$kind" "${times[*]}" \
    "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
