# SPDX-License-Identifier: GPL-2.0
# kgo: Go's G-M-P scheduler for C, with the cross-thread half in the kernel.
#
#   make                 libkgo (static and shared), and kgo.ko against KDIR
#                        (without kernel headers there, kgo.ko is skipped
#                        and make says what to install)
#   make check           every test, in QEMU guests (debug, 6.1, 6.12 kernels),
#                        and a smoke run of the benchmarks (bench/smoke.sh)
#   make run             boot a guest (Debian's stock 6.12 kernel) with kgo.ko
#                        and run the demo; KERNEL=debug for the KASAN/lockdep
#                        kernel (built once, ~5 minutes), KERNEL=6.1
#   make lint            checkpatch --strict and sparse on kmod/
#   make fuzz            1,000,000 fuzzed ioctls in a guest (check runs 50,000)
#   make soak            fuzz, 1,000 SIGKILLs mid-flight, and the wakeup relay
#   make tests           the user-space test programs (static)
#   make bench           kgo against Go 1.23 and pthreads, interleaved, in 3
#                        guest boots (bench/README.md)
#
# Installing (every target honours DESTDIR, for staging):
#   make install         libkgo (.a, .so), kgo.h, kgo.pc, man pages, the udev
#                        rule and sysusers.d entry for the kgo group (PREFIX)
#   make uninstall       removes what install installed
#   make modules_install kgo.ko into /lib/modules/KREL/extra (INSTALL_MOD_PATH)
#   make dkms-install    the module's sources to /usr/src/kgo-VERSION, then
#                        dkms add, build and install for KREL against KDIR
#   make dkms-uninstall  dkms remove for every kernel, and the sources
#   make version         the version, from uapi/linux/kgo.h
#
# KDIR defaults to the running kernel's build tree, as for any external
# module; KREL to that kernel's release, or to KDIR's when KDIR is given.

ifeq ($(origin KDIR),undefined)
KREL ?= $(shell uname -r)
KDIR := /lib/modules/$(KREL)/build
else
KREL ?= $(shell sed -n 's/.*UTS_RELEASE "\(.*\)".*/\1/p' \
		$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
endif
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# udev and systemd-sysusers read /usr/lib and /etc, never /usr/local.
UDEVRULESDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/udev/rules.d,/etc/udev/rules.d)
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,/etc/sysusers.d)
DEPMOD ?= depmod
INSTALL_MOD_DIR ?= extra
DKMS ?= dkms
DKMS_SRCTREE ?= /usr/src

# The one place the version is written down; the shared library's soname
# changes only with its ABI.
VERSION := $(shell awk '$$2 ~ /^KGO_VERSION_/ { v[$$2] = $$3 } END { \
	print v["KGO_VERSION_MAJOR"] "." v["KGO_VERSION_MINOR"] "." v["KGO_VERSION_PATCH"] }' \
	uapi/linux/kgo.h)
SOMAJOR := 0
B := build

CC ?= gcc
CSTD := -std=c11 -D_GNU_SOURCE
WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
KGO_CFLAGS := $(CSTD) $(WARN) $(CFLAGS) -Iuserlib/include -Iuapi -pthread
LIB_SRCS := $(wildcard userlib/src/*.c)
LIB_ASM := $(wildcard userlib/src/*.S)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o) $(LIB_ASM:%.S=$(B)/%.o)
LIB_PIC := $(LIB_SRCS:%.c=$(B)/pic/%.o) $(LIB_ASM:%.S=$(B)/pic/%.o)
LIB_HDRS := $(wildcard userlib/include/*.h userlib/src/*.h uapi/*.h uapi/linux/*.h)
TEST_SRCS := $(wildcard tests/user/*.c)
TEST_CXX_SRCS := $(wildcard tests/user/*.cc)
TEST_BINS := $(TEST_SRCS:tests/user/%.c=$(B)/tests/%) $(TEST_CXX_SRCS:tests/user/%.cc=$(B)/tests/%)
CSAFE_BINS := $(filter $(B)/tests/csafe_%,$(TEST_BINS))
CXX ?= g++
EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(EXAMPLE_SRCS:examples/%.c=$(B)/examples/%)

.PHONY: all module lib tests examples check run lint fuzz soak clean install uninstall \
	modules_install dkms-source dkms-install dkms-uninstall version

# Without a kernel build tree, make builds libkgo and says why kgo.ko was
# not built; make module fails, saying the same.  make run, check and
# bench need no headers on the host: they build kgo.ko for their guests.
NO_KDIR_HINT = no kernel build tree at $(KDIR). Install the running kernel's \
	headers (on Debian: apt-get install linux-headers-$(KREL)), or set KDIR to \
	a kernel build tree. (make run and make check need none: they build \
	kgo.ko for their own guest kernels.)

ifeq ($(wildcard $(KDIR)/Makefile),)
all: lib
	@echo "kgo: libkgo is built; kgo.ko was skipped: $(NO_KDIR_HINT)" >&2
else
all: module lib
endif

module:
	@if [ ! -f $(KDIR)/Makefile ]; then echo "kgo: cannot build kgo.ko: $(NO_KDIR_HINT)" >&2; exit 1; fi
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

lib: $(B)/libkgo.a $(B)/libkgo.so

$(B)/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -c -o $@ $<
$(B)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -c -o $@ $<
$(B)/pic/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -fPIC -c -o $@ $<
$(B)/pic/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -fPIC -c -o $@ $<

# One relocatable object per flavour, all code in the kgo_text section
# (userlib/kgo_text.lds says why).
$(B)/kgo.o: $(LIB_OBJS) userlib/kgo_text.lds
	$(LD) -r -T userlib/kgo_text.lds -o $@ $(LIB_OBJS)
$(B)/pic/kgo.o: $(LIB_PIC) userlib/kgo_text.lds
	$(LD) -r -T userlib/kgo_text.lds -o $@ $(LIB_PIC)

$(B)/libkgo.a: $(B)/kgo.o
	@rm -f $@
	ar rcs $@ $^
$(B)/libkgo.so: $(B)/pic/kgo.o
	$(CC) -shared -Wl,-soname,libkgo.so.$(SOMAJOR) -Wl,-z,noexecstack -pthread -o $@ $^

tests: $(TEST_BINS)
$(B)/tests/%: tests/user/%.c $(wildcard tests/user/*.h) $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -Itests/user -static -o $@ $< $(B)/libkgo.a
# A C++ test (kgo.h's extern "C"), static as the others.
$(B)/tests/%: tests/user/%.cc $(wildcard tests/user/*.h) $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(WARN) $(CFLAGS) -Iuserlib/include -Iuapi -Itests/user -pthread \
		-static -o $@ $< $(B)/libkgo.a
# Every malloc, library's and libc's, through the test's own lock.
$(B)/tests/csafe_malloc_lock: tests/user/csafe_malloc_lock.c $(wildcard tests/user/*.h) $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -Itests/user -static \
		-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free -o $@ $< $(B)/libkgo.a
# dlopen needs a dynamically linked program; libm.so.6, which it opens, is
# a DT_NEEDED library so that kgo-vm copies it into the guest.
$(B)/tests/csafe_dlopen: tests/user/csafe_dlopen.c $(wildcard tests/user/*.h) $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -Itests/user -o $@ $< $(B)/libkgo.a -ldl -Wl,--no-as-needed -lm

examples: $(EXAMPLE_BINS)
$(B)/examples/%: examples/%.c $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -static -o $@ $< $(B)/libkgo.a

check:
	scripts/check

# DEMO=hello (default), sieve, echo or any examples/NAME; DEMO_ARGS=...;
# KERNEL=6.12 (default, Debian's stock kernel), 6.1 or debug.  run-demo
# installs what is missing first (scripts/deps.sh run), then builds.
KERNEL ?= 6.12
run:
	DEMO='$(DEMO)' DEMO_ARGS='$(DEMO_ARGS)' scripts/run-demo --kernel '$(KERNEL)'

lint:
	scripts/deps.sh lint
	scripts/lint

fuzz:
	scripts/deps.sh run debug-kernel
	$(MAKE) tests
	KGO_VM_TIMEOUT=5400 KGO_TEST_TIMEOUT=5000 scripts/kgo-vm \
		--add build/tests/fuzz_ioctl -- fuzz_ioctl $${KGO_FUZZ_CALLS:-1000000}

soak:
	scripts/deps.sh run debug-kernel
	scripts/soak

version:
	@echo $(VERSION)

# ---- installing libkgo

MAN3 := $(wildcard man/man3/*.3)
MAN7 := $(wildcard man/man7/*.7)
GDB_SCRIPT := $(wildcard userlib/gdb/kgo-gdb.py)
# kgo.pc names its directories relative to ${prefix} when they lie under it,
# so that pkg-config --define-prefix can relocate a staged install.
pcdir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCDIR) \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 644 userlib/include/kgo.h $(DESTDIR)$(INCDIR)/kgo.h
	install -m 644 $(B)/libkgo.a $(DESTDIR)$(LIBDIR)/libkgo.a
	install -m 755 $(B)/libkgo.so $(DESTDIR)$(LIBDIR)/libkgo.so.$(VERSION)
	ln -sf libkgo.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libkgo.so.$(SOMAJOR)
	ln -sf libkgo.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libkgo.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pcdir,$(LIBDIR))|' \
		-e 's|@INCDIR@|$(call pcdir,$(INCDIR))|' -e 's|@VERSION@|$(VERSION)|' \
		userlib/kgo.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/kgo.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/kgo.pc
	install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	install -m 644 dist/60-kgo.rules $(DESTDIR)$(UDEVRULESDIR)/60-kgo.rules
	install -m 644 dist/kgo.sysusers $(DESTDIR)$(SYSUSERSDIR)/kgo.conf
ifneq ($(GDB_SCRIPT),)
	install -d $(DESTDIR)$(DATADIR)/kgo
	install -m 644 $(GDB_SCRIPT) $(DESTDIR)$(DATADIR)/kgo/kgo-gdb.py
endif
	@# Into the live system as root: the kgo group the udev rule names, the
	@# rule applied to a /dev/kgo that is already there, the linker cache.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		if ! getent group kgo >/dev/null; then \
			echo "creating the system group kgo"; \
			systemd-sysusers $(SYSUSERSDIR)/kgo.conf 2>/dev/null || groupadd --system kgo; \
		fi; \
		if command -v udevadm >/dev/null && [ -d /run/udev ]; then \
			udevadm control --reload-rules && udevadm trigger --name-match=kgo || true; \
		fi; \
		ldconfig; \
	fi

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/kgo.h $(DESTDIR)$(LIBDIR)/libkgo.a \
		$(DESTDIR)$(LIBDIR)/libkgo.so $(DESTDIR)$(LIBDIR)/libkgo.so.$(SOMAJOR) \
		$(DESTDIR)$(LIBDIR)/libkgo.so.$(VERSION) $(DESTDIR)$(PKGCONFIGDIR)/kgo.pc \
		$(DESTDIR)$(UDEVRULESDIR)/60-kgo.rules $(DESTDIR)$(SYSUSERSDIR)/kgo.conf \
		$(DESTDIR)$(DATADIR)/kgo/kgo-gdb.py \
		$(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN3))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(MAN7)))
	-rmdir $(DESTDIR)$(DATADIR)/kgo 2>/dev/null
	@# The kgo group stays: files may still belong to it.

# ---- installing kgo.ko

need-krel = $(if $(KREL),,$(error cannot tell the release of the kernel in $(KDIR); set KREL))

# The kernel's modules_install runs depmod only when KDIR has a System.map,
# which distributions' header packages lack; into the live system, run it.
# INSTALL_MOD_DIR is pinned: 6.12 defaults to updates/, 6.1 to extra/.
modules_install: module
	$(call need-krel)
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install INSTALL_MOD_DIR=$(INSTALL_MOD_DIR)
	$(if $(INSTALL_MOD_PATH),,$(DEPMOD) -a $(KREL))

# What DKMS builds from: the module's sources, never build products.  A
# distribution package ships `make dkms-source DESTDIR=...` and leaves the
# dkms add/build/install to its post-install script.
DKMS_FILES := Kbuild $(filter-out %.mod.c,$(wildcard kmod/*.c)) $(wildcard kmod/*.h) \
	kmod/Kbuild $(wildcard uapi/*.h uapi/linux/*.h)
DKMS_SRC = $(DESTDIR)$(DKMS_SRCTREE)/kgo-$(VERSION)
# With DESTDIR, DKMS's state, installed modules and any signing key it would
# make stay under DESTDIR too (for staging, and for make check).
DKMS_OPTS = -m kgo -v $(VERSION) $(if $(DESTDIR),--sourcetree $(DESTDIR)$(DKMS_SRCTREE) \
	--dkmstree $(DESTDIR)/var/lib/dkms --installtree $(DESTDIR)/lib/modules --no-depmod)
DKMS_ENV = $(if $(DESTDIR),mok_signing_key=$(DESTDIR)/var/lib/dkms/mok.key \
	mok_certificate=$(DESTDIR)/var/lib/dkms/mok.pub)
DKMS_KERNEL = -k $(KREL) --kernelsourcedir $(KDIR)

dkms-source:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/kmod $(DKMS_SRC)/uapi/linux
	for f in $(DKMS_FILES); do install -m 644 $$f $(DKMS_SRC)/$$f || exit 1; done
	sed 's|#MODULE_VERSION#|$(VERSION)|' dkms.conf > $(DKMS_SRC)/dkms.conf

# Rebuilds for KREL from the current sources if kgo-VERSION was there already.
dkms-install: dkms-source
	$(call need-krel)
	$(if $(DESTDIR),install -d $(DESTDIR)/var/lib/dkms $(DESTDIR)/lib/modules/$(KREL))
	if $(DKMS) status $(DKMS_OPTS) -k $(KREL) | grep -qF ', $(KREL),'; then \
		$(DKMS_ENV) $(DKMS) remove $(DKMS_OPTS) -k $(KREL); fi
	if ! $(DKMS) status $(DKMS_OPTS) | grep -q .; then $(DKMS) add $(DKMS_OPTS); fi
	$(DKMS_ENV) $(DKMS) build $(DKMS_OPTS) $(DKMS_KERNEL)
	$(DKMS_ENV) $(DKMS) install $(DKMS_OPTS) $(DKMS_KERNEL)

dkms-uninstall:
	if $(DKMS) status $(DKMS_OPTS) | grep -q .; then \
		$(DKMS_ENV) $(DKMS) remove $(DKMS_OPTS) --all; fi
	rm -rf $(DKMS_SRC)

# Not the kernel's `make M=$(CURDIR) clean`: it deletes every *.mod file
# below M, bench/go/go.mod included, and needs KDIR.  kgo.ko's products
# are in kmod/, tests/kunit/ and here.
clean:
	rm -rf $(B)
	rm -f Module.symvers modules.order .module-common.o .*.cmd
	find kmod tests/kunit -type f \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name modules.order \) -delete

# ---- benchmarks: kgo against Go and plain threads (bench/README.md)
#   make bench           every workload, interleaved, in BENCH_RUNS guest
#                        boots (3); the table with each boot's ratio, CSV, plots
#   make bench-build     the benchmark programs (make check builds them for
#                        bench/smoke.sh, in the debug guest); epoll-bench is
#                        echo's hand-written event loop
GO ?= /usr/lib/go-1.23/bin/go
BENCH_BINS := $(B)/bench/kgo-bench $(B)/bench/pthread-bench $(B)/bench/go-bench \
	$(B)/bench/epoll-bench
GO_ENV := CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off \
	GOCACHE=$(CURDIR)/$(B)/go/cache GOPATH=$(CURDIR)/$(B)/go/path

.PHONY: bench bench-build
bench-build: $(BENCH_BINS)
$(B)/bench/kgo-bench: bench/kgo.c bench/common.h bench/echo.h $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -static -o $@ bench/kgo.c $(B)/libkgo.a
$(B)/bench/pthread-bench: bench/pthread.c bench/common.h bench/echo.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -pthread -static -o $@ bench/pthread.c
$(B)/bench/epoll-bench: bench/epoll.c bench/common.h bench/echo.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -pthread -static -o $@ bench/epoll.c
$(B)/bench/go-bench: bench/go/main.go bench/go/go.mod
	@mkdir -p $(dir $@)
	cd bench/go && $(GO_ENV) $(GO) build -trimpath -o $(CURDIR)/$@ .

# bench/run.sh installs what is missing (scripts/deps.sh bench: Go 1.23,
# gnuplot...) and then builds bench-build.
bench:
	bench/run.sh

# ---- the csafe_* tests: issue 16's C-safety contract (tests/user/csafe_util.h).
# omit.list keeps them out of make check until the tree keeps the contract;
# make csafe runs them all in one guest (KERNEL=6.12 by default, 6.1, debug).
.PHONY: csafe
csafe: tests
	scripts/kgo-vm --kernel $(KERNEL) --add tests/user/run-tests \
		$(addprefix --add ,$(CSAFE_BINS)) -- run-tests $(notdir $(CSAFE_BINS))
