package dev.gale.cli;

import dev.gale.core.GaleException;
import dev.gale.core.device.Device;
import dev.gale.core.device.Devices;
import dev.gale.models.bert.SentenceEncoder;
import dev.gale.models.bert.MiniLmFiles;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/**
 * {@code gale embed}: all-MiniLM-L6-v2 sentence embeddings (384 floats, L2-normalised) of sentences given as arguments
 * or one per line of a UTF-8 file, written as JSON or as an Arrow IPC file (see {@link EmbeddingWriter}).
 *
 * <p>The model files come from the LangChain4j jars in the local Maven repository, not from the gale jar: shading them
 * would add 99 MB to it (see {@link MiniLmFiles}); the cli declares them {@code provided}, so the build that makes
 * the gale jar also downloads them.
 *
 * <p>{@code --device} picks where the encoder runs: {@code cpu} (default) is the direct Vector API encoder, an OpenCL
 * device runs the encoder's task graph as that device's kernels; either way one line says which implementation ran
 * (from the run report: device, path and task counts, and that nothing fell back), on the same stream as the
 * truncation notes.
 *
 * <p>Bad input is refused before any model is loaded, with the sentence or line it concerns: no sentences, an empty
 * line in the file, bytes that are not UTF-8 (with the line and byte offset). Sentences longer than the model's 512
 * tokens (or {@code --max-tokens}) are embedded from their first 512 tokens and the truncation is reported: on the
 * output stream when the embeddings go to a file, on stderr when JSON goes to stdout, and always in the output's
 * {@code truncated_tokens}.
 */
final class EmbedCommand implements Gale.Command {
    private static final String USAGE = "usage: gale embed [--model fp32|int8] [--device cpu|opencl:N] "
            + "[--format json|arrow] [--out FILE] [--max-tokens N] (--file FILE | SENTENCE...)\n"
            + "  --device      cpu: the direct Vector API encoder (default); opencl:N: the encoder's task graph as that "
            + "device's kernels\n"
            + "  --max-tokens  truncate each sentence at N tokens, [CLS] and [SEP] included (default and most: 512)";

    @Override
    public String summary() {
        return "sentence embeddings with all-MiniLM-L6-v2 (JSON or Arrow IPC)";
    }

    @Override
    public int run(String[] args, PrintStream out) {
        List<String> sentences = new ArrayList<>();
        CliArgs a;
        String format;
        MiniLmFiles.Variant variant;
        Device device;
        try {
            a = CliArgs.parse("embed", args, Set.of("model", "device", "format", "out", "file", "max-tokens"),
                    sentences);
            try {
                device = Devices.byId(a.get("device", "cpu"));
            } catch (GaleException e) {
                throw new IllegalArgumentException("gale embed: --device: " + e.getMessage());
            }
            variant = MiniLmFiles.Variant.parse(a.choice("model", "fp32", List.of("fp32", "int8")));
            format = a.choice("format", "json", List.of("json", "arrow"));
            if (format.equals("arrow") && !a.has("out")) {
                throw new IllegalArgumentException("gale embed: --format arrow writes a binary file and needs --out");
            }
            if (a.integer("max-tokens", MiniLmFiles.MAX_TOKENS, 3) > MiniLmFiles.MAX_TOKENS) {
                throw new IllegalArgumentException("gale embed: --max-tokens must be at most "
                        + MiniLmFiles.MAX_TOKENS + " (the model's positions)");
            }
            if (a.has("file") && !sentences.isEmpty()) {
                throw new IllegalArgumentException("gale embed: give sentences as arguments or --file, not both");
            }
        } catch (IllegalArgumentException e) {
            out.println(e.getMessage());
            out.println(USAGE);
            return 2;
        }
        try {
            if (a.has("file")) {
                sentences = readLines(Path.of(a.get("file", null)));
            } else {
                checkArguments(sentences);
            }
            if (sentences.isEmpty()) {
                throw new BadInput(a.has("file") ? "--file " + a.get("file", null) + " has no sentences"
                        : "no sentences: give them as arguments or with --file FILE (one per line)");
            }
            SentenceEncoder encoder = MiniLmFiles.encoder(variant, device);
            var r = SentenceEmbedder.embed(encoder, MiniLmFiles.tokenizer(
                    a.integer("max-tokens", MiniLmFiles.MAX_TOKENS, 3)), sentences);
            PrintStream notes = a.has("out") ? out : System.err;
            notes.println("gale embed: ran on " + encoder.ranOn());
            for (int i = 0; i < sentences.size(); i++) {
                if (r.dropped()[i] > 0) {
                    notes.printf("gale embed: sentence %d truncated: %d tokens, embedded from its first %d; the "
                            + "last %d were dropped%n", i + 1, r.tokens()[i] + r.dropped()[i], r.tokens()[i],
                            r.dropped()[i]);
                }
            }
            write(a, format, variant, sentences, r, out);
            if (a.has("out")) {
                out.printf("gale embed: %d embeddings of %d floats (%s) written to %s (%s)%n", sentences.size(),
                        r.embeddings()[0].length, variant.modelName(), a.get("out", null), format);
            }
            return 0;
        } catch (BadInput | GaleException e) {
            out.println("gale embed: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            out.println("gale embed: " + e);
            return 1;
        }
    }

    private static void write(CliArgs a, String format, MiniLmFiles.Variant v, List<String> sentences,
            SentenceEmbedder.Result r, PrintStream out) throws IOException {
        if (!a.has("out")) {
            Writer w = new OutputStreamWriter(out, StandardCharsets.UTF_8);
            EmbeddingWriter.json(w, v.modelName(), sentences, r);
            return;
        }
        // Written next to the target and moved over it, so a failure never leaves half a file under its name.
        Path target = Path.of(a.get("out", null)).toAbsolutePath();
        Path tmp = target.resolveSibling(target.getFileName() + "." + UUID.randomUUID() + ".tmp");
        try {
            try (OutputStream o = Files.newOutputStream(tmp)) {
                if (format.equals("json")) {
                    EmbeddingWriter.json(new OutputStreamWriter(o, StandardCharsets.UTF_8), v.modelName(), sentences,
                            r);
                } else {
                    EmbeddingWriter.arrow(o, v.modelName(), sentences, r);
                }
            }
            Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** A message for the user about the input. */
    private static final class BadInput extends RuntimeException {
        BadInput(String message) {
            super(message);
        }
    }

    /**
     * The JVM has already decoded the arguments, replacing bytes that are not valid in the platform charset with
     * U+FFFD; that character is the only trace left, so it is refused.
     */
    private static void checkArguments(List<String> sentences) {
        for (int i = 0; i < sentences.size(); i++) {
            String s = sentences.get(i);
            if (s.indexOf('\uFFFD') >= 0) {
                throw new BadInput("sentence " + (i + 1) + " is not valid UTF-8 (the JVM replaced undecodable bytes "
                        + "with U+FFFD at character " + s.indexOf('\uFFFD') + ")");
            }
            if (s.isBlank()) {
                throw new BadInput("sentence " + (i + 1) + " is empty: nothing to embed");
            }
        }
    }

    /** One sentence per line (LF or CRLF); a final newline ends the last line, any other empty line is an error. */
    static List<String> readLines(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new BadInput("--file " + file + " does not exist");
        }
        String text = decode(bytes, file);
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        List<String> lines = new ArrayList<>(List.of(text.split("\n", -1)));
        if (!lines.isEmpty() && lines.getLast().isEmpty()) {
            lines.removeLast();
        }
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (l.endsWith("\r")) {
                l = l.substring(0, l.length() - 1);
                lines.set(i, l);
            }
            if (l.isBlank()) {
                throw new BadInput(file + ": line " + (i + 1) + " is empty (one sentence per line)");
            }
        }
        return lines;
    }

    private static String decode(byte[] bytes, Path file) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            return d.decode(in).toString();
        } catch (CharacterCodingException e) {
            int at = firstInvalid(bytes);
            int line = 1;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    line++;
                }
            }
            throw new BadInput(file + " is not valid UTF-8: line " + line + ", byte offset " + at
                    + (e instanceof MalformedInputException m ? " (" + m.getInputLength() + " malformed bytes)" : ""));
        }
    }

    /** The offset of the first byte that does not start a valid UTF-8 sequence. */
    private static int firstInvalid(byte[] bytes) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        var r = d.decode(in, java.nio.CharBuffer.allocate(bytes.length + 1), true);
        return r.isError() ? in.position() : bytes.length;
    }
}
