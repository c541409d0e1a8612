#!/usr/bin/env bash
# Release build for old Zenoss hosts: zenticket-hook for glibc 2.17 (CentOS 7, the Zenoss
# 5/6 images; 4.2 on CentOS 6 has 2.12, see README) built with cargo-zigbuild and ziglang
# from PyPI (no rustup target is needed: the target is this machine's own, only the glibc
# is older), its symbol versions checked with objdump -T, then the ZenPack assembled with
# the binary in bin/:
#
#   dist/ZenPacks.community.ZenTicket-VERSION.tar.gz   the pack's source folder, for
#                                                      `zenpack --install <folder>`
#   dist/ZenPacks.community.ZenTicket-VERSION-py2.7.egg  (when python2.7 is here)
#
# --fast: no LTO, many codegen units (CI's variant; same checks, slower binary).
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC=2.17
fast=0
[ "${1:-}" = "--fast" ] && fast=1

venv=target/zig-venv
if [ ! -x "$venv/bin/cargo-zigbuild" ] || [ ! -x "$venv/bin/python-zig" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q ziglang cargo-zigbuild
fi
export PATH="$PWD/$venv/bin:$PATH"

if [ $fast = 1 ]; then
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
fi
cargo zigbuild --locked --release --target "x86_64-unknown-linux-gnu.$GLIBC" --target-dir target/glibc
bin=target/glibc/x86_64-unknown-linux-gnu/release/zenticket-hook

newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -n 1)" != "$GLIBC" ]; then
  echo "release: $bin needs glibc $newest, newer than $GLIBC:" >&2
  objdump -T "$bin" | grep "GLIBC_$newest" >&2
  exit 1
fi
echo "release: newest glibc symbol version needed: $newest (limit $GLIBC)"
version_line=$("$bin" --version)
echo "release: $version_line"
case "$version_line" in "zenticket-hook "*) ;; *) echo "release: --version printed '$version_line'" >&2; exit 1;; esac

version=$(sed -n "s/^VERSION = '\(.*\)'/\1/p" zenpack/setup.py)
name="ZenPacks.community.ZenTicket-$version"
stage="target/dist/$name"
rm -rf target/dist && mkdir -p "$stage" dist
cp -R zenpack/. "$stage/"
rm -f "$stage/ZenPacks/community/ZenTicket/bin/README"
install -m 755 "$bin" "$stage/ZenPacks/community/ZenTicket/bin/zenticket-hook"
find "$stage" -name '*.pyc' -delete
tar -C target/dist -czf "dist/$name.tar.gz" "$name"
echo "release: dist/$name.tar.gz"

py2=${PYTHON2:-$HOME/.pyenv/versions/2.7.18/bin/python2.7}
command -v "$py2" >/dev/null 2>&1 || py2=$(command -v python2.7 || true)
if [ -n "$py2" ] && "$py2" -c 'import setuptools' 2>/dev/null; then
  (cd "$stage" && "$py2" setup.py -q bdist_egg -d "$PWD/../../../dist" >/dev/null 2>&1)
  egg="dist/$name-py2.7.egg"
  python3 - "$egg" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for need in ("ZenPacks/community/ZenTicket/zep/actions.json",
             "ZenPacks/community/ZenTicket/zep/zep.json",
             "ZenPacks/community/ZenTicket/bin/zenticket-hook",
             "ZenPacks/community/ZenTicket/etc/zenticket.conf",
             "ZenPacks/community/ZenTicket/daemons/zenticket",
             "ZenPacks/community/ZenTicket/service_definition/zenticket.json",
             "ZenPacks/community/ZenTicket/etc/zenticket-controlcenter.conf",
             "ZenPacks/community/ZenTicket/migrate/AddZenticketService.py",
             "ZenPacks/community/ZenTicket/migrate/ZenticketOnSharedVolume.py",
             "ZenPacks/community/ZenTicket/actions.py",
             "ZenPacks/community/ZenTicket/configure.zcml",
             "EGG-INFO/entry_points.txt"):
    if need not in names:
        sys.exit("release: the egg lacks " + need)
PY
  echo "release: $egg (built with $("$py2" --version 2>&1))"
else
  echo "release: no Python 2.7 with setuptools here: egg not built (zenpack --install builds it from the folder)"
fi
