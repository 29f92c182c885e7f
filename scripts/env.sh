# Sourced by baton's scripts: one place for toolchain pins and cache paths.
# The kernel's Rust toolchain is Debian's rustc-web 1.85 (/usr/bin/rustc),
# not the rustup one earlier in PATH.
BATON_CACHE="${BATON_CACHE:-$HOME/.cache/baton}"
BINDGEN_VERSION="0.69.5"
BATON_BINDGEN="$BATON_CACHE/bindgen-$BINDGEN_VERSION/bin/bindgen"
BATON_KMAKE=(make LLVM=-19 RUSTC=/usr/bin/rustc "BINDGEN=$BATON_BINDGEN"
             HOSTRUSTC=/usr/bin/rustc RUSTFMT=rustfmt)
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
BATON_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The kernel source tree, unpacked once per Debian package version.
baton_kernel_src() {
  local ver
  ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
  local dir="$BATON_CACHE/src/linux-source-6.12-$ver"
  if [ ! -f "$dir/.baton-unpacked" ]; then
    echo "kernel: unpacking linux-source-6.12 $ver" >&2
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    tar -C "$dir.tmp" -xf /usr/src/linux-source-6.12.tar.xz --strip-components=1
    touch "$dir.tmp/.baton-unpacked"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# The build directory of a kernel flavour (debug|plain), keyed by the source
# version, the config fragments and the toolchain.
baton_kernel_dir() {
  local flavour="$1" ver key
  ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
  key=$( { echo "$ver"; echo "$flavour"; cat "$BATON_ROOT/qemu/kernel/base.config";
           [ "$flavour" = debug ] && cat "$BATON_ROOT/qemu/kernel/debug.config";
           /usr/bin/rustc --version; clang-19 --version | head -1; } | sha256sum | cut -c1-12)
  echo "$BATON_CACHE/kernel/6.12-$flavour-$key"
}
