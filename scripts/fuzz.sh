#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer via cargo-fuzz) of the config reader and the Zenoss
# reply decoder. Not run by CI: it runs for a long time.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]   # default 1800 s, both targets at once
#
# This machine has only stable Rust; cargo-fuzz's sanitizer flags need nightly features,
# which RUSTC_BOOTSTRAP=1 enables on the stable compiler. Corpora and crashes stay in
# fuzz/corpus and fuzz/artifacts (not committed); the figures go to fuzz/last-run.txt.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-1800}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config_parser zenoss_reply)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  cargo fuzz build -O "$t"
done
pids=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  nice -n 10 cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 \
    > "run-$t.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
{
  date -u +"fuzz run of %Y-%m-%d, $secs s per target"
  for t in "${targets[@]}"; do
    echo "== $t"
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs|ERROR|crash-" "run-$t.log" || true
    echo "corpus: $(ls "corpus/$t" | wc -l) inputs; crashes: $(ls "artifacts/$t" 2>/dev/null | wc -l)"
  done
} | tee "last-run-$(IFS=-; echo "${targets[*]}").txt"
exit $status
