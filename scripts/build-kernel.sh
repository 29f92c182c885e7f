#!/usr/bin/env bash
# Builds (once, cached) the baton test kernel: build-kernel.sh debug|plain.
# Prints the build directory on stdout.
set -euo pipefail
. "$(dirname "$0")/env.sh"

flavour="${1:-debug}"
print_only="${2:-}"
case "$flavour" in debug|plain) ;; *) echo "usage: $0 debug|plain" >&2; exit 2;; esac

out=$(baton_kernel_dir "$flavour")
if [ -f "$out/.baton-built" ]; then echo "$out"; exit 0; fi
if [ "$print_only" = --print-only ]; then exit 1; fi

src=$(baton_kernel_src)
frags=("$BATON_ROOT/qemu/kernel/base.config")
[ "$flavour" = debug ] && frags+=("$BATON_ROOT/qemu/kernel/debug.config")

echo "kernel: building $flavour flavour in $out (15-30 min on 2 cores)" >&2
cd "$src"
if [ -f "$out/.baton-configured" ]; then
  echo "kernel: resuming an interrupted build" >&2
else
rm -rf "$out"; mkdir -p "$out"
"${BATON_KMAKE[@]}" O="$out" tinyconfig >/dev/null
cat "${frags[@]}" > "$out/baton.fragment"
scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "$out/baton.fragment" >/dev/null
"${BATON_KMAKE[@]}" O="$out" olddefconfig >/dev/null

# Kconfig drops options whose dependencies are unmet without a word: check that
# every option the fragments ask for made it into the final config.
bad=0
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue;; esac
  opt=${line%%=*}; want=${line#*=}
  if [ "$want" = n ]; then
    if grep -q "^$opt=" "$out/.config"; then echo "kernel: $opt wanted off, got $(grep "^$opt=" "$out/.config")" >&2; bad=1; fi
  elif ! grep -qx "$line" "$out/.config"; then
    echo "kernel: $line requested, got: $(grep "^$opt=\|# $opt is" "$out/.config" || echo missing)" >&2; bad=1
  fi
done < "$out/baton.fragment"
[ "$bad" = 0 ] || { echo "kernel: config fragment not satisfied" >&2; exit 1; }
touch "$out/.baton-configured"
fi

"${BATON_KMAKE[@]}" O="$out" rustavailable >&2
"${BATON_KMAKE[@]}" O="$out" -j"$(nproc)" bzImage modules >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2; exit 1; }
touch "$out/.baton-built"
echo "kernel: built $out" >&2
echo "$out"
