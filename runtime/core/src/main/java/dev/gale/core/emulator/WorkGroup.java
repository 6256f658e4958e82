package dev.gale.core.emulator;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** The shared state of one emulated work group: its barrier, its local arrays and its first failure. */
final class WorkGroup {
    /** Unwinds the items of a group after another item failed; never escapes the emulator. */
    static final class Abort extends Error {
        private static final long serialVersionUID = 1L;

        Abort() {
            super(null, null, false, false);
        }
    }

    private static final StackWalker WALKER = StackWalker.getInstance();

    private final String kernel;
    private final int[] group;
    private final int parties;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition released = lock.newCondition();
    private final List<Object> locals = new ArrayList<>();
    private int arrived;
    private int exited;
    private long generation;
    private String site;
    private String firstExited;
    private EmulatorException failure;

    WorkGroup(String kernel, int[] group, int parties) {
        this.kernel = kernel;
        this.group = group;
        this.parties = parties;
    }

    void await(ItemContext item) {
        String here = callerSite();
        lock.lock();
        try {
            checkFailure();
            if (exited > 0) {
                fail(new BarrierDivergenceException("barrier divergence in kernel " + kernel + ", group "
                        + Arrays.toString(group) + ": item " + item.describe() + " waits at the barrier at " + here
                        + " but item " + firstExited + " (and " + (exited - 1) + " more) already returned"));
                throw new Abort();
            }
            if (arrived == 0) {
                site = here;
            } else if (!site.equals(here)) {
                fail(new BarrierDivergenceException("barrier divergence in kernel " + kernel + ", group "
                        + Arrays.toString(group) + ": item " + item.describe() + " waits at the barrier at " + here
                        + " while " + arrived + " items wait at the barrier at " + site));
                throw new Abort();
            }
            arrived++;
            if (arrived == parties) {
                arrived = 0;
                generation++;
                released.signalAll();
                return;
            }
            long gen = generation;
            while (gen == generation && failure == null) {
                released.awaitUninterruptibly();
            }
            checkFailure();
        } finally {
            lock.unlock();
        }
    }

    void exit(ItemContext item) {
        lock.lock();
        try {
            exited++;
            if (firstExited == null) {
                firstExited = item.describe();
            }
            if (arrived > 0 && failure == null) {
                fail(new BarrierDivergenceException("barrier divergence in kernel " + kernel + ", group "
                        + Arrays.toString(group) + ": item " + item.describe() + " returned while " + arrived
                        + " items wait at the barrier at " + site));
            }
        } finally {
            lock.unlock();
        }
    }

    /** The {@code index}-th local array of the group, created by the first item that asks for it. */
    Object local(ItemContext item, int index, Class<?> type, int size) {
        lock.lock();
        try {
            checkFailure();
            if (index < locals.size()) {
                Object have = locals.get(index);
                int len = have instanceof float[] f ? f.length : ((int[]) have).length;
                if (have.getClass() != type || len != size) {
                    fail(new BarrierDivergenceException("kernel " + kernel + ", group " + Arrays.toString(group)
                            + ": item " + item.describe() + " asks for local array #" + index + " as "
                            + type.getComponentType() + "[" + size + "] but another item made it "
                            + have.getClass().getComponentType() + "[" + len + "]"));
                    throw new Abort();
                }
                return have;
            }
            if (size < 0) {
                fail(new EmulatorException("kernel " + kernel + ": local array of negative size " + size));
                throw new Abort();
            }
            Object made = type == float[].class ? new float[size] : new int[size];
            locals.add(made);
            return made;
        } finally {
            lock.unlock();
        }
    }

    void fail(EmulatorException e) {
        lock.lock();
        try {
            if (failure == null) {
                failure = e;
            }
            released.signalAll();
        } finally {
            lock.unlock();
        }
    }

    void rethrow() {
        if (failure != null) {
            throw failure;
        }
    }

    private void checkFailure() {
        if (failure != null) {
            throw new Abort();
        }
    }

    private static String callerSite() {
        return WALKER.walk(s -> s.filter(f -> !f.getClassName().equals(WorkGroup.class.getName())
                        && !f.getClassName().equals(ItemContext.class.getName()))
                .findFirst()
                .map(f -> f.getClassName() + "." + f.getMethodName() + "(line " + f.getLineNumber() + ", bci "
                        + f.getByteCodeIndex() + ")")
                .orElse("?"));
    }
}
