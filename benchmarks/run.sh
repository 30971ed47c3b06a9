#!/usr/bin/env bash
# Runs every benchmark of the project in one go, on this machine, and keeps the output.
#
#   bash benchmarks/run.sh                 # everything (about 40 minutes on 2 cores)
#   bash benchmarks/run.sh capture latency # some parts: capture drain peers latency changeset chats
#   BENCH_QUICK=1 bash benchmarks/run.sh   # smoke run: small sizes, short runs, noisy figures
#   BENCH_HISTORY=10000000 bash benchmarks/run.sh drain  # also the drain after that many changes
#
# Each part starts its own private PostgreSQL cluster (PostgreSQL's durable defaults;
# BENCH_DURABILITY=ephemeral for fsync=off). Peers are installed when missing and
# skipped with a notice when they cannot be: the HTTP load tool `oha` (cargo install,
# into target/bench-tools) and graphile-worker (npm, into target/bench-peers, by the
# drain_peers bench itself). The report goes to target/benchmarks/report-<time>.txt;
# BENCHMARKS.md explains the figures. Nothing else should run on the machine meanwhile.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

# Pinned so every run measures the same load tool.
OHA_VERSION=1.16.0

all_parts=(capture drain peers latency changeset chats)
if [ $# -gt 0 ]; then parts=("$@"); else parts=("${all_parts[@]}"); fi
for part in "${parts[@]}"; do
    case " ${all_parts[*]} " in
    *" $part "*) ;;
    *) echo "unknown part '$part' (one of: ${all_parts[*]})" >&2; exit 2 ;;
    esac
done
wants() { case " ${parts[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

mkdir -p target/benchmarks
report="target/benchmarks/report-$(date -u +%Y%m%dT%H%M%SZ).txt"
exec > >(tee "$report") 2>&1

# PostgreSQL: the harness finds the binaries (PG_BIN, pg_config, /usr/lib/postgresql/*/bin).
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "PostgreSQL is missing: installing it (apt-get install -y postgresql)"
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

if wants chats && ! command -v oha >/dev/null && [ ! -x target/bench-tools/bin/oha ]; then
    echo "installing oha $OHA_VERSION into target/bench-tools (HTTP load tool for the chats API bench)"
    cargo install oha --locked --version "$OHA_VERSION" --root "$root/target/bench-tools" --quiet ||
        echo "notice: could not install oha; the chats API bench will skip its HTTP parts"
fi

echo "== machine"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:     $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (modified)')"
echo "cpu:        $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "memory:     $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "kernel:     $(uname -r)"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
echo "postgresql: $("${pg_bin:-/usr/bin}/postgres" --version 2>/dev/null || echo unknown)"
echo "rustc:      $(rustc --version)"
echo "node:       $(node --version 2>/dev/null || echo absent)"
echo "oha:        $( (command -v oha >/dev/null && oha --version) || target/bench-tools/bin/oha --version 2>/dev/null || echo absent)"
echo "parts:      ${parts[*]}${BENCH_QUICK:+ (BENCH_QUICK: smoke run, figures are noisy)}"

# Build everything first, so no compilation runs while something is measured.
cargo bench --no-run -p benchmarks -p db-listenable -p pg-changeset --quiet

run() {
    local title=$1
    shift
    echo
    echo "== $title"
    echo "\$ $*"
    local start=$SECONDS
    "$@"
    echo "($((SECONDS - start)) s)"
}

wants capture && run "capture overhead" cargo bench --quiet -p benchmarks --bench capture
# Issue 18's measurements (drain and peers parts): every cell of the drain matrix 5 times
# (stability), the defaults' and the tuned cells under a long transaction (both
# variants) and with autovacuum off for our tables, the same long transactions against
# graphile-worker, and the drain after a history only when BENCH_HISTORY asks for it.
repeat=5
[ -n "${BENCH_QUICK:-}" ] && [ "$BENCH_QUICK" != 0 ] && repeat=2 # a smoke run checks that repeats print
wants drain && DRAIN_BENCH_PARTS=${DRAIN_BENCH_PARTS:-drain,memory} DRAIN_BENCH_REPEAT=${DRAIN_BENCH_REPEAT:-$repeat} \
    run "drain throughput (repeated runs) and memory" cargo bench --quiet -p db-listenable --bench drain
wants drain && DRAIN_BENCH_PARTS=drain DRAIN_BENCH_REPEAT=1 DRAIN_BENCH_CELLS=2x100,2x1000 \
    DRAIN_BENCH_LONG_TXN=rr,rr-xid DRAIN_BENCH_AUTOVACUUM=off \
    run "drain under a long transaction and with autovacuum off" cargo bench --quiet -p db-listenable --bench drain
if wants drain && [ -n "${BENCH_HISTORY:-}" ]; then
    DRAIN_BENCH_PARTS=drain DRAIN_BENCH_REPEAT=1 DRAIN_BENCH_CELLS=2x100 DRAIN_BENCH_HISTORY=$BENCH_HISTORY \
        DRAIN_BENCH_AUTOVACUUM=off run "drain after a history of $BENCH_HISTORY changes" \
        cargo bench --quiet -p db-listenable --bench drain
fi
wants peers && DRAIN_BENCH_LONG_TXN=${DRAIN_BENCH_LONG_TXN:-rr,rr-xid} \
    run "drain: invoices processor and graphile-worker" cargo bench --quiet -p benchmarks --bench drain_peers
wants latency && run "latency" cargo bench --quiet -p benchmarks --bench latency
wants changeset && run "changeset push" cargo bench --quiet -p pg-changeset --bench push
wants chats && run "chats API" cargo bench --quiet -p benchmarks --bench chats_api

echo
echo "report: $report"
