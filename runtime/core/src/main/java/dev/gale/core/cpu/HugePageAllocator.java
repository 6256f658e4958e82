package dev.gale.core.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Native memory for large, long-lived data that kernels stream once per call (a model's weights repacked at load),
 * asked of Linux as transparent huge pages: anonymous mappings of at least {@value #REGION_MIB} MiB, 2 MiB-aligned,
 * marked {@code madvise(MADV_HUGEPAGE)} before anything touches them, sliced out in order. Allocations are zeroed
 * (fresh anonymous pages), as an {@link Arena}'s are; they live until {@link #close()}, which unmaps everything.
 *
 * <p>Why: with THP set to {@code madvise} (a common distribution default) the JDK's native allocations get 4 KiB
 * pages, so a decode step streaming a 1.3 GB Q8_0 model takes about 330,000 TLB misses, each a page walk that a
 * KVM guest pays in two dimensions; with 2 MiB pages it takes about 650. Measured on the 2-core Zen 3 guest (16
 * distinct packed 2048×8192 Q8_0 matrices, 302 MB, GEMV'd in turn on 2 threads, 7–11 interleaved rounds, medians, five
 * runs, all while other builds loaded the machine): 8–24 % more GB/s from these mappings than from {@link Arena}
 * memory; a plain read of the same bytes gained 2–21 %.
 *
 * <p>Elsewhere (not Linux, no {@code mmap}/{@code madvise} symbol, a failed mapping, or {@code -Dgale.hugePages=false}
 * to measure the difference) it hands out plain {@link Arena} memory. A {@code madvise} that fails (a kernel without
 * THP) keeps the mapping as ordinary pages. Thread-safe.
 */
public final class HugePageAllocator implements SegmentAllocator, AutoCloseable {
    private static final long HUGE_PAGE = 2L << 20;
    private static final int REGION_MIB = 64;
    private static final long REGION = (long) REGION_MIB << 20;
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final int MADV_HUGEPAGE = 14;
    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;

    static {
        MethodHandle mmap = null;
        MethodHandle munmap = null;
        MethodHandle madvise = null;
        boolean wanted = Boolean.parseBoolean(System.getProperty("gale.hugePages", "true"))
                && System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux");
        if (wanted) {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            } catch (RuntimeException | LinkageError e) {
                mmap = null;  // no libc symbols here (or native access denied): plain arena memory
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    /** Owns every mapping (their cleanup unmaps them) and the fallback allocations. */
    private final Arena scope = Arena.ofShared();
    private MemorySegment region;
    private long used;
    private long hugeAdvised;

    /** Whether allocations here are asked for as huge pages (false: they are plain {@link Arena} memory). */
    public static boolean available() {
        return MMAP != null;
    }

    @Override
    public synchronized MemorySegment allocate(long byteSize, long byteAlignment) {
        if (byteSize < 0 || byteAlignment <= 0 || Long.bitCount(byteAlignment) != 1) {
            throw new IllegalArgumentException("bad allocation: " + byteSize + " bytes aligned to " + byteAlignment);
        }
        if (MMAP == null || byteAlignment > HUGE_PAGE) {
            return scope.allocate(byteSize, byteAlignment);
        }
        long at = region == null ? 0 : (used + byteAlignment - 1) & -byteAlignment;
        if (region == null || at + byteSize > region.byteSize()) {
            MemorySegment next = map(Math.max(REGION, (byteSize + HUGE_PAGE - 1) & -HUGE_PAGE));
            if (next == null) {
                return scope.allocate(byteSize, byteAlignment);
            }
            region = next;
            at = 0;
        }
        used = at + byteSize;
        return region.asSlice(at, byteSize);
    }

    /** Bytes of the mappings advised as huge pages so far (whether the kernel gave them is its choice). */
    public synchronized long hugeAdvisedBytes() {
        return hugeAdvised;
    }

    /**
     * A fresh 2 MiB-aligned, huge-page-advised mapping of {@code bytes} (a multiple of 2 MiB), unmapped when the scope
     * closes; null if {@code mmap} fails. One extra huge page is mapped so the aligned start fits.
     */
    private MemorySegment map(long bytes) {
        long mapped = bytes + HUGE_PAGE;
        MemorySegment base;
        try {
            base = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, mapped, PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable t) {
            return null;
        }
        if (base.address() == -1L || base.address() == 0L) {  // MAP_FAILED
            return null;
        }
        long start = (base.address() + HUGE_PAGE - 1) & -HUGE_PAGE;
        long baseAddress = base.address();
        MemorySegment aligned = MemorySegment.ofAddress(start).reinterpret(bytes, scope, s -> unmap(baseAddress,
                mapped));
        try {
            if ((int) MADVISE.invokeExact(aligned, bytes, MADV_HUGEPAGE) == 0) {
                hugeAdvised += bytes;
            }
        } catch (Throwable t) {
            // not advised: the mapping still works with ordinary pages
        }
        return aligned;
    }

    private static void unmap(long address, long bytes) {
        try {
            int ignored = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(address), bytes);
        } catch (Throwable t) {
            // the process keeps the pages; nothing else to do at close
        }
    }

    /** Unmaps everything this allocator handed out; the segments become inaccessible. */
    @Override
    public void close() {
        scope.close();
    }
}
