package dev.gale.core.device;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Keeps the JVM's signal handlers installed across a driver's initialisation.
 *
 * <p>The JVM handles SIGSEGV itself: safepoint polls and implicit null checks fault on purpose. PoCL loads LLVM,
 * which installs one-shot ({@code SA_RESETHAND}) SIGSEGV/SIGBUS handlers, and PoCL installs its own SIGFPE handler.
 * After that, the first safepoint that arms the polls of two worker threads at once can kill the process with a bare
 * SIGSEGV (exit 139, no hs_err file): LLVM's handler has reset the disposition to the default before it puts the JVM's
 * back. Gale saw exactly this, intermittently, in benchmarks and in {@code gale generate --device cpu}, which
 * enumerates OpenCL devices too. {@code -Xcheck:jni} shows the replaced handlers.
 *
 * <p>The remedy is signal chaining: with {@code $JAVA_HOME/lib/libjsig.so} preloaded, a library's
 * {@code sigaction} is recorded as a handler chained behind the JVM's and never reaches the kernel. Gale's scripts and
 * its test forks preload it ({@code scripts/env.sh}, the surefire configuration). This class is the safety net for a
 * JVM started without it: {@link #around} snapshots the kernel's dispositions of the signals the JVM uses, runs a
 * driver's initialisation, and puts back any the driver changed. It cannot catch a handler a driver installs later
 * from its own threads (PoCL compiles lazily at first launch), which is why the preload stays the remedy. It uses
 * the raw {@code rt_sigaction} system call, so it sees the kernel's truth even under {@code libjsig} (whose
 * interposed {@code sigaction} answers with the chained handler). Linux on x86-64 only (the system call number and
 * the kernel's {@code struct sigaction} layout are per architecture); elsewhere {@link #around} only runs the
 * initialisation.
 */
public final class SignalGuard {
    private static final int SIGILL = 4;
    private static final int SIGBUS = 7;
    private static final int SIGFPE = 8;
    private static final int SIGSEGV = 11;
    private static final int SIGUSR2 = 12;
    private static final int SIGXFSZ = 25;
    private static final int[] SIGNALS = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGUSR2, SIGXFSZ};
    private static final long RT_SIGACTION_X86_64 = 13;
    /** The kernel's {@code struct sigaction} on x86-64: handler, flags, restorer, a 64-bit mask. */
    private static final long KERNEL_SIGACTION_BYTES = 32;
    private static final long SIGSET_BYTES = 8;

    private static final MethodHandle SYSCALL;
    private static final MethodHandle DLADDR;

    static {
        MethodHandle sys = null;
        MethodHandle dl = null;
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"))) {
            Linker l = Linker.nativeLinker();
            Optional<MemorySegment> s = l.defaultLookup().find("syscall");
            if (s.isPresent()) {
                sys = l.downcallHandle(s.get(), FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS,
                        ADDRESS, JAVA_LONG), Linker.Option.firstVariadicArg(1));
            }
            Optional<MemorySegment> d = l.defaultLookup().find("dladdr");
            if (d.isPresent()) {
                dl = l.downcallHandle(d.get(), FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT, ADDRESS,
                        ADDRESS));
            }
        }
        SYSCALL = sys;
        DLADDR = dl;
    }

    private SignalGuard() {
    }

    /** True where {@link #around} can see and restore dispositions (Linux x86-64). */
    public static boolean supported() {
        return SYSCALL != null;
    }

    /**
     * Runs {@code init} (a driver's loading) and restores the JVM's dispositions of SIGSEGV, SIGBUS, SIGFPE,
     * SIGILL, SIGUSR2 and SIGXFSZ if it replaced them. Returns the names of the signals put back (empty when the
     * driver left them alone or on an unsupported platform).
     */
    public static synchronized List<String> around(Runnable init) {
        if (!supported()) {
            init.run();
            return List.of();
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment[] before = new MemorySegment[SIGNALS.length];
            for (int i = 0; i < SIGNALS.length; i++) {
                before[i] = a.allocate(KERNEL_SIGACTION_BYTES, 8);
                read(SIGNALS[i], before[i]);
            }
            init.run();
            List<String> restored = new ArrayList<>();
            MemorySegment now = a.allocate(KERNEL_SIGACTION_BYTES, 8);
            for (int i = 0; i < SIGNALS.length; i++) {
                read(SIGNALS[i], now);
                if (now.get(JAVA_LONG, 0) != before[i].get(JAVA_LONG, 0)) {
                    write(SIGNALS[i], before[i]);
                    restored.add(name(SIGNALS[i]));
                }
            }
            return restored;
        }
    }

    /**
     * The shared object holding the kernel's current SIGSEGV handler ({@code libjvm.so} when the JVM's own is
     * installed), or empty where that cannot be told.
     */
    public static Optional<String> segvHandlerLibrary() {
        if (!supported() || DLADDR == null) {
            return Optional.empty();
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment act = a.allocate(KERNEL_SIGACTION_BYTES, 8);
            read(SIGSEGV, act);
            long handler = act.get(JAVA_LONG, 0);
            if (handler == 0 || handler == 1) {
                return Optional.of(handler == 0 ? "SIG_DFL" : "SIG_IGN");
            }
            MemorySegment info = a.allocate(32, 8);
            int ok = (int) DLADDR.invokeExact(MemorySegment.ofAddress(handler), info);
            MemorySegment fname = info.get(ADDRESS, 0);
            return ok == 0 || fname.equals(MemorySegment.NULL) ? Optional.empty()
                    : Optional.of(fname.reinterpret(4096).getString(0));
        } catch (Throwable t) {
            return Optional.empty();
        }
    }

    private static void read(int signal, MemorySegment into) {
        call(signal, MemorySegment.NULL, into);
    }

    private static void write(int signal, MemorySegment from) {
        call(signal, from, MemorySegment.NULL);
    }

    private static void call(int signal, MemorySegment act, MemorySegment old) {
        long rc;
        try {
            rc = (long) SYSCALL.invokeExact(RT_SIGACTION_X86_64, (long) signal, act, old, SIGSET_BYTES);
        } catch (Throwable t) {
            throw new IllegalStateException("rt_sigaction(" + name(signal) + ") failed: " + t, t);
        }
        if (rc != 0) {
            throw new IllegalStateException("rt_sigaction(" + name(signal) + ") returned " + rc);
        }
    }

    private static String name(int signal) {
        return switch (signal) {
            case SIGILL -> "SIGILL";
            case SIGBUS -> "SIGBUS";
            case SIGFPE -> "SIGFPE";
            case SIGSEGV -> "SIGSEGV";
            case SIGUSR2 -> "SIGUSR2";
            case SIGXFSZ -> "SIGXFSZ";
            default -> "signal " + signal;
        };
    }
}
