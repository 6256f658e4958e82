package dev.gale.kernels.attention;

/**
 * What a decode schedule needs to know about a call: the token count of every (sequence, KV head) tile and the KV
 * block size ranges are cut at. Tile {@code t = seq · kvHeads + kvHead} (the {@link DecodeKv} numbering).
 *
 * @param tileLengths tokens cached per tile
 * @param block       KV block (LeanTile) size in tokens: the unit of work every schedule counts in, a multiple of
 *                    the cache's {@link DecodeKv#blockAlign()}
 */
public record DecodeShape(int[] tileLengths, int block) {
    public DecodeShape {
        if (block < 1) {
            throw new IllegalArgumentException("decode: block must be >= 1, got " + block);
        }
        tileLengths = tileLengths.clone();
    }

    /** The shape of {@code kv}, blocks of {@link #blockTokens(int, int)}. */
    public static DecodeShape of(DecodeKv kv) {
        int[] lengths = new int[kv.sequences() * kv.kvHeads()];
        for (int s = 0; s < kv.sequences(); s++) {
            for (int h = 0; h < kv.kvHeads(); h++) {
                lengths[s * kv.kvHeads() + h] = kv.length(s);
            }
        }
        return new DecodeShape(lengths, blockTokens(kv.headDim(), kv.blockAlign()));
    }

    /** {@code batch · kvHeads} tiles, all of {@code length} tokens. */
    public static DecodeShape uniform(int batch, int kvHeads, int length, int headDim) {
        int[] lengths = new int[batch * kvHeads];
        java.util.Arrays.fill(lengths, length);
        return new DecodeShape(lengths, blockTokens(headDim, 1));
    }

    /**
     * LeanAttention's BLOCK_N (papers.md §3.1): 256 tokens for {@code d ≤ 64}, 128 for {@code d ≤ 128}, else 64, so
     * one K and one V block stay about 64 KB in F32 (within L2 on a CPU core), rounded up to a multiple of
     * {@code align}.
     */
    public static int blockTokens(int headDim, int align) {
        int b = headDim <= 64 ? 256 : headDim <= 128 ? 128 : 64;
        int a = Math.max(1, align);
        return (b + a - 1) / a * a;
    }

    public int tiles() {
        return tileLengths.length;
    }

    public int length(int tile) {
        return tileLengths[tile];
    }

    /** KV blocks of tile {@code t} (the last one may be partial). */
    public int blocks(int tile) {
        return (tileLengths[tile] + block - 1) / block;
    }

    /** Blocks of the longest tile. */
    public int maxBlocks() {
        int m = 0;
        for (int t = 0; t < tiles(); t++) {
            m = Math.max(m, blocks(t));
        }
        return m;
    }

    /** Blocks of every tile together: the length of LeanAttention's flattened axis. */
    public long totalBlocks() {
        long n = 0;
        for (int t = 0; t < tiles(); t++) {
            n += blocks(t);
        }
        return n;
    }

    /** Tiles with at least one token. */
    public int nonEmptyTiles() {
        int n = 0;
        for (int l : tileLengths) {
            n += l > 0 ? 1 : 0;
        }
        return n;
    }

    @Override
    public int[] tileLengths() {
        return tileLengths.clone();
    }
}
