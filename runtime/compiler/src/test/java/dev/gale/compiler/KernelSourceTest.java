package dev.gale.compiler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gale.compiler.samples.Samples;
import dev.gale.core.GaleException;
import dev.gale.core.buffer.DType;
import dev.gale.core.kernel.KernelSource;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The runtime's view of the emitted resources: descriptor parsing and specialisation by constants. */
class KernelSourceTest {
    @Test
    void descriptorDescribesParametersAndDeviceArguments() {
        KernelSource ks = KernelSource.load(Samples.class, "scaledGelu");
        assertEquals("scaledGelu", ks.entry());
        assertEquals(3, ks.argCount());
        KernelSource.Param out = ks.params().get(2);
        assertEquals(KernelSource.Kind.BUFFER, out.kind());
        assertEquals(DType.F16, out.dtype());
        assertEquals(KernelSource.Access.WRITE, out.access());
        assertEquals(1, out.arg());
        KernelSource.Param scale = ks.params().get(4);
        assertEquals(KernelSource.Kind.CONST, scale.kind());
        assertEquals("GALE_CONST_scale", scale.macro());
        assertEquals("--fmad=false", ks.cudaOptions());
    }

    @Test
    void constantsBecomeDefinesAndAreChecked() {
        KernelSource ks = KernelSource.load(Samples.class, "scaledGelu");
        String cl = ks.openclSource(Map.of("scale", 0.75f, "perItem", 4));
        assertTrue(cl.startsWith("#define GALE_CONST_scale (0x1.8p-1f)\n#define GALE_CONST_perItem 4\n"), cl);
        String cu = KernelSource.load(Samples.class, "groupSum").cudaSource(Map.of("group", -3));
        assertTrue(cu.startsWith("#define GALE_CONST_group (-3)\n"), cu);
        assertTrue(assertThrows(GaleException.class, () -> ks.openclSource(Map.of("scale", 1.0f))).getMessage()
                .contains("needs a value for @Const parameter 'perItem'"));
        assertTrue(assertThrows(GaleException.class,
                () -> ks.openclSource(Map.of("scale", 1.0f, "perItem", 2, "tile", 3))).getMessage()
                .contains("has no @Const parameters named [tile]"));
        assertTrue(assertThrows(GaleException.class, () -> ks.openclSource(Map.of("scale", 1.0, "perItem", 2)))
                .getMessage().contains("is float, got Double"));
        assertTrue(assertThrows(GaleException.class,
                () -> ks.openclSource(Map.of("scale", Float.NaN, "perItem", 2))).getMessage().contains("finite"));
        assertTrue(assertThrows(GaleException.class, () -> KernelSource.load(Samples.class, "cube")).getMessage()
                .contains("no emitted device code for kernel dev.gale.compiler.samples.Samples.cube"));
    }
}
