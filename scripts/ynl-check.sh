#!/usr/bin/env bash
# The netlink spec against the kernel's own tooling (linux-source-6.12's
# tools/net/ynl), part of `make lint`: it validates against the kernel's
# genetlink schema, and ynl-gen-c.py generates every C form from it (the
# kernel's uapi header, the kernel-side policy and op tables, the user-space
# library), as it would for an in-tree family. Nothing generated is kept.
# Needs python3-yaml and python3-jsonschema (scripts/deps.sh).
set -euo pipefail
. "$(dirname "$0")/env.sh"

ksrc=$(baton_kernel_src)
spec="$BATON_ROOT/Documentation/netlink/specs/baton.yaml"
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1 # the kernel source stays as unpacked

# ynl-gen-c.py finds the schema at ../genetlink.yaml of the spec and the
# tree's root by its MAINTAINERS file: lay the spec out as in the kernel.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Documentation/netlink/specs"
touch "$work/MAINTAINERS"
cp "$spec" "$work/Documentation/netlink/specs/baton.yaml"
ln -s "$ksrc/Documentation/netlink/genetlink.yaml" "$work/Documentation/netlink/genetlink.yaml"

"$py" - "$ksrc/Documentation/netlink/genetlink.yaml" "$spec" <<'EOF'
import sys, yaml, jsonschema
schema, spec = (yaml.safe_load(open(p)) for p in sys.argv[1:])
jsonschema.validate(spec, schema)
EOF

for mode in "uapi --header" "kernel --header" "kernel --source" "user --header" "user --source"; do
  # shellcheck disable=SC2086 # the mode is two words
  if ! timeout 120 "$py" "$ksrc/tools/net/ynl/ynl-gen-c.py" --mode $mode \
      --spec "$work/Documentation/netlink/specs/baton.yaml" -o "$work/out" >"$work/log" 2>&1; then
    echo "ynl-check: ynl-gen-c.py --mode $mode failed:" >&2
    cat "$work/log" >&2
    exit 1
  fi
done
echo "ynl-check: ok (schema, ynl-gen-c uapi/kernel/user)"
