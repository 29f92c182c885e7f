#!/bin/bash
# Fails when a function of a kernel module reserves more than LIMIT bytes of
# stack frame (default 2048, the kernel's CONFIG_FRAME_WARN on 64-bit).
#
#   scripts/stack-frames.sh MODULE.ko [LIMIT]
#
# rustc has no counterpart of the C compiler's -Wframe-larger-than, and a
# large value built on the stack (a table, a configuration) compiles without
# a word. Kernel stacks are 16 KiB on x86_64 and the debug test kernel's
# KASAN doubles them, so an overflow would pass every scenario there and
# panic the kernels operators run. The frame is read from each function's
# prologue in the disassembly: the `sub $N,%rsp` that reserves its locals.
set -euo pipefail

ko=${1:?usage: $0 MODULE.ko [LIMIT]}
limit=${2:-2048}

objdump -d -C --no-show-raw-insn "$ko" | awk -v limit="$limit" '
  function hex(s,   i, v) {
    v = 0
    s = tolower(s)
    for (i = 1; i <= length(s); i++)
      v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
  }
  /^[0-9a-f]+ <.*>:$/ {
    fn = $0
    sub(/^[0-9a-f]+ </, "", fn)
    sub(/>:$/, "", fn)
    next
  }
  /\tsub +\$0x[0-9a-f]+,%rsp$/ {
    n = $0
    sub(/.*\$0x/, "", n)
    sub(/,%rsp$/, "", n)
    n = hex(n)
    if (n > frame[fn]) frame[fn] = n
  }
  END {
    worst = 0
    for (f in frame) {
      if (frame[f] > worst) worst = frame[f]
      if (frame[f] > limit) {
        printf "stack-frames: %d bytes (limit %d): %s\n", frame[f], limit, f > "/dev/stderr"
        bad = 1
      }
    }
    if (bad) exit 1
    printf "stack-frames: largest frame %d bytes (limit %d)\n", worst, limit
  }'
