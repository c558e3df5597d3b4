# SPDX-License-Identifier: MIT
# gdb support for libkgo programs, in the manner of Go's runtime-gdb.py.
#
#   source kgo-gdb.py          (or install it as an auto-load script)
#   info goroutines            every live goroutine: id, state, and where it
#                              waits (the first frame outside libkgo)
#   goroutine N bt             a backtrace of goroutine N's own stack
#
# Works on a live process and on a core file.  A switched-out goroutine is
# a saved stack pointer (libkgo's ctx_amd64.S): at sp+0 MXCSR and the x87
# control word, at sp+8 r15, r14, r13, r12, rbx, rbp, and at sp+56 the
# return address; the caller's sp is sp+64.  To unwind from there, a frame
# unwinder presents that frame as the caller of the selected thread's
# innermost frame while a goroutine command runs, so gdb's own unwinding
# (CFI, symbols, source lines) does the rest.

import gdb
from gdb.unwinder import Unwinder, register_unwinder

G_STATES = {0: "idle", 1: "runnable", 2: "running", 3: "waiting", 4: "dead"}
SAVED_REGS = (("r15", 8), ("r14", 16), ("r13", 24), ("r12", 32), ("rbx", 40), ("rbp", 48))


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class GoroutineUnwinder(Unwinder):
    """While .target is set, the innermost frame's caller is the goroutine."""

    def __init__(self):
        super(GoroutineUnwinder, self).__init__("kgo-goroutine")
        self.target = None

    def __call__(self, pending):
        if self.target is None or pending.level() != 0:
            return None
        # gdb refuses to unwind past a caller whose stack address is below
        # its callee's ("inner"), and the goroutine's stack may well be
        # below the thread's: this frame is given the lowest stack address
        # there is, as it is only a stepping stone to the goroutine.
        sp = pending.read_register("rsp")
        info = pending.create_unwind_info(
            _FrameId(gdb.Value(16).cast(sp.type), pending.read_register("rip")))
        for name, value in self.target.items():
            info.add_saved_register(name, value)
        return info


_unwinder = GoroutineUnwinder()
register_unwinder(None, _unwinder, replace=True)


def _u64(addr):
    return int(gdb.parse_and_eval("*(unsigned long long *)%d" % addr))


def _goroutines():
    rt = gdb.parse_and_eval("kgo_rt")
    g = rt["allg"]
    while int(g) != 0:
        yield g
        g = g["alllink"]


def _running_gs():
    """Ids of goroutines some M is running right now (their sp is stale)."""
    rt = gdb.parse_and_eval("kgo_rt")
    running = set()
    for i in range(int(rt["nms"])):
        m = rt["ms"][i]
        if int(m) != 0 and int(m["curg"]) != 0:
            running.add(int(m["curg"]["id"]))
    return running


def _saved_frame(g):
    """The registers the goroutine's saved context holds, as gdb Values."""
    sp = int(g["sp"])
    frame = gdb.newest_frame()
    regs = {}
    for name, off in SAVED_REGS:
        regs[name] = gdb.Value(_u64(sp + off)).cast(frame.read_register(name).type)
    regs["rip"] = gdb.Value(_u64(sp + 56)).cast(frame.read_register("rip").type)
    regs["rsp"] = gdb.Value(sp + 64).cast(frame.read_register("rsp").type)
    return regs


class _OnGoroutine(object):
    """Within the block, frame 1 onwards is goroutine g's stack."""

    def __init__(self, g):
        self.regs = _saved_frame(g)

    def __enter__(self):
        _unwinder.target = self.regs
        gdb.invalidate_cached_frames()
        return gdb.newest_frame().older()

    def __exit__(self, *exc):
        _unwinder.target = None
        gdb.invalidate_cached_frames()
        return False


def _in_libkgo(frame):
    """Whether @frame is libkgo's: a kgo_ function, or one of its static
    helpers (sema_acquire_in_library...), told by its source file."""
    if (frame.name() or "").startswith("kgo_"):
        return True
    sal = frame.find_sal()
    return sal.symtab is not None and "userlib/src/" in sal.symtab.filename


def _where(frame):
    """The first frame outside libkgo: 'function (file:line)'."""
    while frame is not None:
        name = frame.name() or "??"
        if not _in_libkgo(frame):
            sal = frame.find_sal()
            if sal.symtab is not None:
                return "%s (%s:%d)" % (name, sal.symtab.filename, sal.line)
            return "%s (pc 0x%x)" % (name, frame.pc())
        frame = frame.older()
    return "?"


def _find(goid):
    for g in _goroutines():
        if int(g["id"]) == goid:
            return g
    return None


class InfoGoroutines(gdb.Command):
    """List goroutines: id, state, and where each waits."""

    def __init__(self):
        super(InfoGoroutines, self).__init__("info goroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        running = _running_gs()
        rows = []
        for g in _goroutines():
            goid = int(g["id"])
            state = G_STATES.get(int(g["status"]), "?")
            if state in ("idle", "dead"):
                continue
            if goid in running:
                rows.append((goid, "* %d running (on an M: see its thread)" % goid))
                continue
            regs = _saved_frame(g)
            start = gdb.parse_and_eval("&kgo_gostart")
            if int(regs["rip"]) == int(start):
                # Never ran: the hand-built first frame holds fn in r12.
                block = gdb.block_for_pc(int(regs["r12"]))
                fn = block.function.name if block is not None and block.function else "?"
                where = "(not started) %s" % fn
            else:
                with _OnGoroutine(g) as frame:
                    where = _where(frame)
            rows.append((goid, "  %d %s %s" % (goid, state, where)))
        for _, text in sorted(rows):
            gdb.write(text + "\n")


class GoroutineCmd(gdb.Command):
    """goroutine N bt: backtrace of goroutine N."""

    def __init__(self):
        super(GoroutineCmd, self).__init__("goroutine", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if len(argv) < 2 or argv[1] not in ("bt", "backtrace"):
            raise gdb.GdbError("usage: goroutine N bt")
        g = _find(int(argv[0]))
        if g is None:
            raise gdb.GdbError("no goroutine %s" % argv[0])
        if int(g["id"]) in _running_gs():
            raise gdb.GdbError("goroutine %s is running: use its thread's bt" % argv[0])
        with _OnGoroutine(g) as frame:
            level = 0
            while frame is not None:
                sal = frame.find_sal()
                loc = "%s:%d" % (sal.symtab.filename, sal.line) if sal.symtab else "pc 0x%x" % frame.pc()
                gdb.write("#%d  %s (%s)\n" % (level, frame.name() or "??", loc))
                frame = frame.older()
                level += 1


InfoGoroutines()
GoroutineCmd()
