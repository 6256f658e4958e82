package dev.gale.kernels.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SinkWindowTest {
    private static long[] tokens(SinkWindow w) {
        long[] t = new long[w.length()];
        for (int i = 0; i < t.length; i++) {
            t[i] = w.token(i);
        }
        return t;
    }

    /** papers.md §6: cached [0,1,2,3,6,7,8] decoding token 9 → keys at positions 0…7, the query at 7. */
    @Test
    void reproducesThePapersWorkedExample() {
        SinkWindow w = new SinkWindow(SinkWindow.DEFAULT_SINKS, 4);
        for (int t = 0; t < 9; t++) {
            w.append();
        }
        // before the step the ring still holds token 5 (the reference evicts it ahead of the forward instead)
        assertArrayEquals(new long[] {0, 1, 2, 3, 5, 6, 7, 8}, tokens(w));
        int slot = w.append(); // token 9 takes the slot of the oldest window token, 5
        assertEquals(4 + 1, slot);
        assertArrayEquals(new long[] {0, 1, 2, 3, 6, 7, 8, 9}, tokens(w));
        assertEquals(8, w.length());
        assertEquals(7, w.queryPosition());
        // logical order = position order: sinks in slots 0..3, then the ring from its head
        int[] slots = new int[8];
        for (int i = 0; i < 8; i++) {
            slots[i] = w.slot(i);
        }
        assertArrayEquals(new int[] {0, 1, 2, 3, 6, 7, 4, 5}, slots);
    }

    /** Against a list model of the stream, for every sink count, ring size and stream length up to 5 wraps. */
    @Test
    void matchesAListModelOfTheStream() {
        for (int sinks : new int[] {0, 1, 4}) {
            for (int window : new int[] {1, 3, 7}) {
                SinkWindow w = new SinkWindow(sinks, window);
                List<Long> model = new ArrayList<>();
                Map<Integer, Long> slotHolds = new HashMap<>();
                for (long t = 0; t < sinks + 5L * window + 3; t++) {
                    int slot = w.append();
                    assertTrue(slot >= 0 && slot < sinks + window, "slot " + slot);
                    slotHolds.put(slot, t);
                    model.add(t);
                    if (model.size() > sinks + window) {
                        model.remove(sinks); // evict the oldest window token, never a sink
                    }
                    String where = "S=" + sinks + " W=" + window + " after token " + t;
                    assertEquals(model.size(), w.length(), where);
                    assertEquals(model.size() - 1, w.queryPosition(), where);
                    for (int i = 0; i < model.size(); i++) {
                        assertEquals(model.get(i), w.token(i), where + " logical " + i);
                        assertEquals(model.get(i), slotHolds.get(w.slot(i)), where + " slot of logical " + i);
                    }
                    // contiguous slot runs cover every range
                    for (int from = 0; from < model.size(); from++) {
                        int end = w.runEnd(from, model.size());
                        assertTrue(end > from, where);
                        for (int i = from; i < end; i++) {
                            assertEquals(w.slot(from) + (i - from), w.slot(i), where + " run from " + from);
                        }
                    }
                }
            }
        }
    }

    @Test
    void rejectsBadShapesAndIndices() {
        assertThrows(IllegalArgumentException.class, () -> new SinkWindow(-1, 4));
        assertThrows(IllegalArgumentException.class, () -> new SinkWindow(4, 0));
        SinkWindow w = new SinkWindow(2, 2);
        w.append();
        assertThrows(IndexOutOfBoundsException.class, () -> w.slot(1));
        assertThrows(IndexOutOfBoundsException.class, () -> w.token(-1));
    }
}
