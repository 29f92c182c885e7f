# SPDX-License-Identifier: GPL-2.0
#
# baton: TCP connection handoff for server farms, as a Rust kernel module.
#
#   make demo     build what is missing, boot the QEMU farm, show baton at work
#   make check    the whole test suite (what CI runs)
#
# Other targets: deps, kernel, kernel-plain, module, module-clippy,
# host-test, lint, check-quick, clean.

SHELL := /bin/bash
ROOT := $(CURDIR)
CACHE ?= $(HOME)/.cache/baton
BINDGEN := $(CACHE)/bindgen-0.69.5/bin/bindgen
KMAKE := $(MAKE) LLVM=-19 RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc BINDGEN=$(BINDGEN)
export LIBCLANG_PATH := /usr/lib/llvm-19/lib

# The kernel the module builds against: the cached debug test kernel unless
# KDIR names another Rust-enabled kernel build directory.
KDIR ?= $(shell $(ROOT)/scripts/build-kernel.sh debug --print-only 2>/dev/null)

CARGO ?= cargo
XTASK := $(CARGO) run --quiet --release -p xtask --

# Farm scenarios `make check` runs: empty = the default set, every
# scenario in the order of `cargo run -p xtask -- list`.
SCENARIOS ?=
# `make check` as a whole should end within this many seconds of its start
# (CI gives a run 90 minutes, and a hung last scenario is killed 10 minutes
# after the budget): the farm scenarios get what deps, the
# kernel, lint, host tests and the module build left, and a scenario is
# started only while 10 minutes of it remain (the rest: `skip NAME`).
CHECK_BUDGET_S ?= 4500
CHECK_START := $(shell date +%s)

.PHONY: all deps kernel kernel-plain module module-clippy host-test lint check check-quick demo clean

all: module

deps:
	$(ROOT)/scripts/deps.sh

kernel: deps
	$(ROOT)/scripts/build-kernel.sh debug >/dev/null

kernel-plain: deps
	$(ROOT)/scripts/build-kernel.sh plain >/dev/null

# Each kernel gets its own copy of the sources to build in (6.12 has no
# separate output directory for external modules), so builds against the
# debug and plain kernels never mix objects and the work tree stays clean.
MODBUILD = $(ROOT)/target/kmod/$(notdir $(KDIR))
# The clippy build (`make lint`) has its own copy too, so it never makes the
# normal build recompile.
CLIPPYBUILD = $(ROOT)/target/kmod-clippy/$(notdir $(KDIR))

# $(call kbuild_module,TARGET,BUILD DIR,EXTRA KERNEL MAKE ARGUMENTS,RECIPE
# LINE): copies the sources into the build dir, runs the recipe line if any,
# and builds baton.ko there; any warning fails.
define kbuild_module
	@test -n "$(KDIR)" -a -f "$(KDIR)/Module.symvers" || { \
	  echo "$(1): no kernel build in KDIR='$(KDIR)'; run 'make kernel' or pass KDIR=" >&2; exit 1; }
	@mkdir -p $(2)/rust-tools/baton-core
	@cp -a $(ROOT)/src/. $(2)/src/
	@cp -a $(ROOT)/rust-tools/baton-core/src/. $(2)/rust-tools/baton-core/src/
	@cp -p $(ROOT)/Kbuild $(2)/Kbuild
	$(4)
	@set -o pipefail; $(KMAKE) $(3) -C $(KDIR) M=$(2) modules 2>&1 | tee $(2)/build.log
	@if grep -qiE '(^|: )warning' $(2)/build.log; then \
	  echo "$(1): the build printed warnings (zero allowed)" >&2; exit 1; fi
endef

module:
	$(call kbuild_module,module,$(MODBUILD),)
	@$(ROOT)/scripts/stack-frames.sh $(MODBUILD)/baton.ko
	@echo "module: $(MODBUILD)/baton.ko"

# clippy over the module (and the baton-core it compiles in), part of `make
# lint`: the kernel's CLIPPY=1 build, clippy-driver of the kernel's rustc in
# place of rustc with the kernel's clippy lints, every warning an error (so
# a failed run leaves no object and the next one lints again). The
# configuration is the kernel's .clippy.toml with the MSRV raised from the
# kernel's own minimum (1.78 in 6.12) to baton's, 1.85 (baton-core's
# rust-version).
clippy_conf = @k=$(KDIR)/source; [ -f $$k/.clippy.toml ] || k=$(KDIR); \
	{ echo 'msrv = "1.85.0"'; grep -v '^msrv *=' $$k/.clippy.toml; } >$(CLIPPYBUILD)/.clippy.toml

module-clippy:
	$(call kbuild_module,module-clippy,$(CLIPPYBUILD),CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver CLIPPY_CONF_DIR=$(CLIPPYBUILD) KRUSTFLAGS=-Dwarnings,$(clippy_conf))
	@echo "module-clippy: ok"

host-test:
	$(CARGO) test --workspace --quiet

lint:
	$(ROOT)/scripts/lint.sh

# `make check` lints and runs the host tests in a target directory kept
# under the cache: a clean clone then compiles only its own crates, not
# every dependency again (about a minute less on the 2-core machines). Each
# clone adds its own crates' objects, so it is emptied once it outgrows
# CHECK_TARGET_MAX_MB. (The binaries the farm runs are built in the clone.)
CHECK_TARGET := $(CACHE)/cargo-target
CHECK_TARGET_MAX_MB ?= 6000

check: deps kernel
	@mb=$$(du -sm $(CHECK_TARGET) 2>/dev/null | cut -f1); if [ "$${mb:-0}" -gt $(CHECK_TARGET_MAX_MB) ]; then \
	  echo "check: emptying $(CHECK_TARGET) (over $(CHECK_TARGET_MAX_MB) MB)"; rm -rf $(CHECK_TARGET); fi
	CARGO_TARGET_DIR=$(CHECK_TARGET) $(MAKE) lint host-test
	$(MAKE) module KDIR=$$($(ROOT)/scripts/build-kernel.sh debug)
	$(CARGO) build --quiet --release -p batonctl -p baton-farm --bins
	left=$$(( $(CHECK_BUDGET_S) - $$(date +%s) + $(CHECK_START) )); \
	$(XTASK) check --budget $$(( left > 0 ? left : 1 )) \
	  --kernel $$($(ROOT)/scripts/build-kernel.sh debug) \
	  --module $(ROOT)/target/kmod/$$(basename $$($(ROOT)/scripts/build-kernel.sh debug))/baton.ko \
	  $(SCENARIOS)

# The same gates with only the KUnit suite and the farm smoke test in QEMU:
# the quick loop while developing (CI runs the whole `make check`).
check-quick:
	$(MAKE) check SCENARIOS="kunit_baton farm_smoke"

demo: deps kernel-plain
	$(MAKE) module KDIR=$$($(ROOT)/scripts/build-kernel.sh plain)
	$(CARGO) build --quiet --release -p batonctl -p baton-farm --bins
	$(XTASK) demo --kernel $$($(ROOT)/scripts/build-kernel.sh plain) \
	  --module $(ROOT)/target/kmod/$$(basename $$($(ROOT)/scripts/build-kernel.sh plain))/baton.ko

clean:
	rm -rf $(ROOT)/target/kmod $(ROOT)/target/kmod-clippy
