#!/bin/bash
# PID 1 of every baton farm VM (see rust-tools/farm, the host side).
#
# The VM's root is the host's root filesystem, read-only over virtio-9p. This
# script makes the writable bits (tmpfs on /run, overlays on /etc, /var and
# /tmp), mounts its run directory (9p tag "farm") on /run/farm, records the
# kernel's global state, and then starts a session (see run_sessions): in
# fresh namespaces it configures hostname, NICs and routes from
# /run/farm/config and serves as the command agent: it runs every command
# file the host drops into /run/farm/cmd/ (and names on the control port,
# ttyS1) and writes the results to /run/farm/out/. The protocol is
# described in rust-tools/farm/src/mailbox.rs. On `reset` the session ends
# with everything it started, baton-vm-init --reset checks that the kernel
# is as booted and starts a new session: the next scenario gets this VM as
# if booted afresh, without the boot.
#
# Every exec costs about a second of guest time here (TCG, KASAN, libraries
# read over 9p), so mounts and network set-up are batched into few commands
# and the agent loop uses builtins only.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/run TERM=dumb LC_ALL=C
SHARE=/run/farm
export BATON_SHARE=$SHARE

# To the console, with the time since boot (where a reset's time goes).
log() {
  local up
  read -r up _ < /proc/uptime
  echo "baton-init: [$up] $*" > /dev/console
}

# Something fatal: say so, then end the VM (qemu runs with -no-reboot).
die() { log "FATAL: $*"; echo b > /proc/sysrq-trigger; sleep 10; exit 1; }

# The filesystems of qemu/vm-fstab (beside this script), in two batches.
# (Not run when the harness's baton-vm-init did it all: see the end.)
mount_fs() {
  local fstab=${0%/*}/vm-fstab
  mount -t proc proc /proc || die "mount /proc"
  [ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev || die "mount /dev"
  mount -n -a -T "$fstab" -O x-baton-early || die "early mounts"
  mkdir -p /run/lock /run/user /run/overlay/{etc,var,tmp}/{upper,work} || die "mkdir in /run"
  mount -n -a -T "$fstab" -O x-baton-overlay || die "overlays on /etc, /var and /tmp"
}

# Sets $dev to the name of the interface with MAC $1 (builtins only).
iface_by_mac() {
  local d mac
  for d in /sys/class/net/*; do
    read -r mac < "$d/address" 2>/dev/null || continue
    [ "$mac" = "$1" ] && { dev=${d##*/}; return 0; }
  done
  return 1
}

# Applies /run/farm/config (written by the host: see topology.rs), the
# network part with a single `ip -batch`.
configure() {
  local cfg=$SHARE/config kw a b c dev hosts="" nl=$'\n'
  local ipcmds="link set lo up$nl"
  [ -r "$cfg" ] || die "no $cfg"
  while read -r kw a b c; do
    case "$kw" in
      hostname)
        BATON_VM=$a
        echo "$a" > /proc/sys/kernel/hostname
        echo "$a" > /etc/hostname ;;
      nic)  # nic MAC NAME ADDR/PREFIX
        iface_by_mac "$a" || die "no NIC with MAC $a"
        ipcmds+="link set dev $dev name $b$nl"
        ipcmds+="addr add $c dev $b$nl"
        ipcmds+="link set $b up$nl" ;;
      route)  # route default GW
        ipcmds+="route add $a via $b$nl" ;;
      forward)
        echo "$a" > /proc/sys/net/ipv4/ip_forward ;;
      host)
        hosts+="$a $b$nl" ;;
      '') ;;
      *) log "config: unknown directive $kw" ;;
    esac
  done < "$cfg"
  ip -batch - <<< "$ipcmds" || die "network configuration failed"
  printf '127.0.0.1 localhost %s\n%s' "$BATON_VM" "$hosts" > /etc/hosts
  export BATON_VM
}

# Ends process group $1 after $2 seconds (TERM, then KILL 5 s later) and
# leaves file $3 behind to say so. `read -t` on the agent's idle fifo is
# the sleep: coreutils' `timeout` would cost an exec per command.
watchdog() {
  read -t "$2" -u 9 _
  : > "$3"
  kill -TERM -- "-$1" 2>/dev/null || return 0
  read -t 5 -u 9 _
  kill -KILL -- "-$1" 2>/dev/null
}

# Runs command file $SHARE/cmd/$1.sh in a process group of its own (so that
# a timeout ends everything it started but did not detach with setsid);
# exit status 124 if the watchdog ended it. The result code is written
# last, as one line: the host takes it as final once the newline is there.
# (No exec but the command's own bash: each costs a fifth of a second.)
run_one() {
  local id=$1 f=$SHARE/cmd/$1.sh out=$SHARE/out/$1 tag secs rc cmd dog
  read -r _ tag secs < "$f"
  [ "$tag" = baton-timeout ] || secs=60
  set -m
  (cd /run && exec bash "$f") < /dev/null > "$out.out" 2> "$out.err" &
  cmd=$!
  set +m
  watchdog "$cmd" "$secs" "$out.timedout" &
  dog=$!
  wait "$cmd"
  rc=$?
  kill "$dog" 2>/dev/null
  [ -e "$out.timedout" ] && rc=124
  echo "$rc" > "$out.rc"
}

# Serves the host's lines on the control port (ttyS1): `run N`, then
# `reset` (end this session: exit status 10) or `shutdown` (status 0).
# Blocking in `read` there costs nothing while idle; polling the mailbox
# over 9p had cost up to a second per command and a fifth of the VM's CPU
# (TCG, debug kernel).
agent() {
  local op id
  exec 8<> /dev/ttyS1
  # The guest's clock in it: the host compares it with the file's time
  # (the host's clock: 9p) and sets the guest's only if they differ.
  echo "$EPOCHREALTIME" > "$SHARE/ready"
  log "ready"
  while read -r -u 8 op id; do
    case "$op" in
      run) run_one "$id" & ;; # a long command holds up no other
      reset) log "session ends: reset requested"; exit 10 ;;
      shutdown) log "shutdown requested"; exit 0 ;;
      *) log "control port: unknown line '$op $id'" ;;
    esac
  done
  exit 0
}

# A session, in the namespaces baton-vm-init --session made, with its own
# filesystems and the NICs moved in: the NICs configured, then the agent.
# Everything it starts ends with it: it is PID 1 of its PID namespace.
session() {
  exec 9<> /run/agent.tick # the watchdogs' sleep (see watchdog)
  log "session started: configuring"
  configure
  agent
}

# Sessions one after the other, until one ends otherwise than by a reset
# or the kernel is not as booted after one (baton-vm-init --reset checks
# it against the record it made at boot, and writes why not to
# $SHARE/reset-refused). PID 1 keeps nothing running but the session.
run_sessions() {
  local rc flag=--session
  if [ "$baton_sessions" = off ] || [ -z "$prepared" ]; then
    # No session: `baton_sessions=off` on the kernel command line (the
    # KUnit farm, whose tests use the NICs from the init namespace), or no
    # baton-vm-init to make one and check the kernel after it. The agent
    # runs in PID 1's namespaces, as one session that cannot be reset.
    exec 9<> /run/agent.tick
    configure
    ( agent )
    rc=$?
    [ "$rc" = 10 ] && echo "no sessions here: no reset" > "$SHARE/reset-refused"
  else
    while :; do
      "$baton_init" $flag "${0%/*}/vm-fstab" /bin/bash "$0" session
      rc=$?
      [ "$rc" = 10 ] || break
      log "session ended: checking the kernel before a new one"
      flag=--reset
    done
    [ "$rc" = 100 ] && log "not fit for another session (see reset-refused)"
  fi
  sync
  reboot -f 2>/dev/null
  echo b > /proc/sysrq-trigger
}

# A session (run_sessions started this shell in its namespaces).
if [ "$1" = session ]; then
  session
fi

# The exec-heavy steps (mounts, the agent's FIFO and control port) in one
# exec of the harness's baton-vm-init when the kernel command line names it
# (`baton_init=PATH`, in our environment): 1.3 s of the boot instead of
# 3.3 s. Else one by one.
prepared=
if [ -n "$baton_init" ] && [ -x "$baton_init" ]; then
  "$baton_init" "${0%/*}/vm-fstab" || die "$baton_init failed"
  prepared=1
else
  mount_fs
  mkfifo /run/agent.tick
  # Raw, no echo: the host's lines come in as written, nothing goes back.
  stty -F /dev/ttyS1 raw -echo || die "control port ttyS1"
fi
run_sessions
