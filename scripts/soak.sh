#!/usr/bin/env bash
# Soak: the daemon's loop (`sweep --every 0`, no pause) for 100 and for 10,000 cycles over
# a state DB with owed work and rows, measuring peak RSS of each run: memory must not grow
# with the number of cycles (the loop runs for months). Prints both and their ratio.
#
#     bash scripts/soak.sh            # CYCLES=10000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${CYCLES:-10000}
cargo build --release --locked -q
bin=$PWD/target/release/zenticket-hook
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/zenticket.conf" <<CONF
[GENERAL]
ticketscript: /bin/false
statedb: $dir/zenticket.db
logfile: $dir/zenticket.log
collector: soak
retrydelay: 0
retrymaxdelay: 0
breakafter: 0

[LAB]
id: nnl-00000
queue: Front Line
group1: /Network
CONF
# Owed work that fails every cycle (a ticket script that always fails), and rows to read.
for i in $(seq 1 2); do
  "$bin" --config "$dir/zenticket.conf" --evid "soak-$i" --count 1 --event-state 0 \
    --severity 4 --prod-state 1000 --device-groups '|/Network' --summary s >/dev/null || true
done
rss() {
  /usr/bin/time -f %M "$bin" --config "$dir/zenticket.conf" sweep --every 0 --cycles "$1" \
    2>&1 >/dev/null | tail -n 1
}
small=$(rss 100)
big=$(rss "$cycles")
echo "soak: peak RSS after 100 cycles ${small} KiB, after $cycles cycles ${big} KiB: $(python3 -c "print('%.2f' % ($big / $small))")x"
