#!/usr/bin/env bash
# Installs everything baton's build and tests need on Debian 12, idempotently.
# Quick when all is present: it only asks dpkg and looks for bindgen.
set -euo pipefail

RUST_WEB_VERSION="1.85.0+dfsg3-1~deb12u3"
BINDGEN_VERSION="0.69.5"

log() { printf 'deps: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

plain_pkgs=(
  clang-19 lld-19 llvm-19 libclang-19-dev
  linux-source-6.12
  qemu-system-x86
  flex bison bc libelf-dev libssl-dev cpio kmod make gcc python3 xz-utils
  nginx curl wrk ipvsadm haproxy tcpdump iproute2 ethtool iputils-ping
  bridge-utils procps
  # the client's tools, run natively in its namespace
  python3-scapy redis-tools apache2-utils
  # a raw client (scapy) keeps its own kernel from resetting its handshake
  iptables
  # the kernel's ynl tools (tools/net/ynl) over the netlink spec: `make lint`
  # and the ynl scenario (in the VMs, which run the host's /usr)
  python3-yaml python3-jsonschema
)
# rust-web-clippy: clippy-driver of the same rustc, for `make lint` on the module.
rust_pkgs=(rustc-web rust-web-src libstd-rust-web-dev rust-web-clippy)

missing=()
for p in "${plain_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

rust_spec=()
for p in "${rust_pkgs[@]}"; do
  have=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null || true)
  case "$have" in
    "install ok installed $RUST_WEB_VERSION") ;;
    *) rust_spec+=("$p") ;;
  esac
done

if [ ${#missing[@]} -gt 0 ] || [ ${#rust_spec[@]} -gt 0 ]; then
  log "installing: ${missing[*]} ${rust_spec[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  pinned=()
  if [ ${#rust_spec[@]} -gt 0 ]; then
    if apt-cache madison rustc-web | grep -qF "$RUST_WEB_VERSION"; then
      for p in "${rust_spec[@]}"; do pinned+=("$p=$RUST_WEB_VERSION"); done
    else
      log "WARNING: rustc-web $RUST_WEB_VERSION is gone from the archive; using the candidate"
      pinned=("${rust_spec[@]}")
    fi
  fi
  $SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades \
    "${missing[@]}" "${pinned[@]}" >/dev/null
  # The in-VM servers must not run on the host: the VMs start their own.
  for svc in nginx haproxy; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

BINDGEN_DIR="${BATON_CACHE:-$HOME/.cache/baton}/bindgen-$BINDGEN_VERSION"
if ! "$BINDGEN_DIR/bin/bindgen" --version 2>/dev/null | grep -qF "$BINDGEN_VERSION"; then
  log "installing bindgen-cli $BINDGEN_VERSION into $BINDGEN_DIR"
  cargo install --quiet --locked --root "$BINDGEN_DIR" bindgen-cli --version "$BINDGEN_VERSION"
fi

log "ok"
