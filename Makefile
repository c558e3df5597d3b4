# kgo: Go's G-M-P scheduler for C, with the cross-thread half in the kernel.
#
#   make                 kgo.ko against KDIR, and libkgo (static and shared)
#   make check           every test, in QEMU guests (debug, 6.1, 6.12 kernels)
#   make run             boot a guest with kgo.ko and run the demo
#   make lint            checkpatch --strict and sparse on kmod/
#   make tests           the user-space test programs (static)
#   make install         library, header, pkg-config file (PREFIX, DESTDIR)
#
# KDIR defaults to the running kernel's build tree, as for any external module.

KDIR ?= /lib/modules/$(shell uname -r)/build
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCDIR ?= $(PREFIX)/include
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
LIB_HDRS := $(wildcard userlib/include/*.h userlib/src/*.h uapi/linux/*.h)
TEST_SRCS := $(wildcard tests/user/*.c)
TEST_BINS := $(TEST_SRCS:tests/user/%.c=$(B)/tests/%)
EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(EXAMPLE_SRCS:examples/%.c=$(B)/examples/%)

.PHONY: all module lib tests examples check run lint clean install uninstall

all: module lib

module:
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
	$(CC) -shared -Wl,-soname,libkgo.so.0 -Wl,-z,noexecstack -pthread -o $@ $^

tests: $(TEST_BINS)
$(B)/tests/%: tests/user/%.c $(wildcard tests/user/*.h) $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -Itests/user -static -o $@ $< $(B)/libkgo.a

examples: $(EXAMPLE_BINS)
$(B)/examples/%: examples/%.c $(B)/libkgo.a
	@mkdir -p $(dir $@)
	$(CC) $(KGO_CFLAGS) -static -o $@ $< $(B)/libkgo.a

check:
	scripts/check

run: lib examples
	scripts/run-demo

lint:
	scripts/lint

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 644 userlib/include/kgo.h $(DESTDIR)$(INCDIR)/kgo.h
	install -m 644 $(B)/libkgo.a $(DESTDIR)$(LIBDIR)/libkgo.a
	install -m 755 $(B)/libkgo.so $(DESTDIR)$(LIBDIR)/libkgo.so.0
	ln -sf libkgo.so.0 $(DESTDIR)$(LIBDIR)/libkgo.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		userlib/kgo.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kgo.pc

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/kgo.h $(DESTDIR)$(LIBDIR)/libkgo.a \
		$(DESTDIR)$(LIBDIR)/libkgo.so $(DESTDIR)$(LIBDIR)/libkgo.so.0 \
		$(DESTDIR)$(LIBDIR)/pkgconfig/kgo.pc

clean:
	rm -rf $(B)
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
