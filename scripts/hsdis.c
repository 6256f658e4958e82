/* Minimal HotSpot disassembler plugin over Capstone: HotSpot loads hsdis-amd64.so and calls
   decode_instructions_virtual for -XX:+PrintAssembly / PrintCompilation output. */
#include <stdint.h>
#include <stdio.h>
#include <capstone/capstone.h>

typedef void *(*event_cb)(void *, const char *, void *);
typedef int (*printf_cb)(void *, const char *, ...);

void *decode_instructions_virtual(uintptr_t start_va, uintptr_t end_va, unsigned char *buffer,
                                  uintptr_t length, event_cb ev, void *ev_stream, printf_cb pr,
                                  void *pr_stream, const char *options, int newline) {
    (void) end_va; (void) options;
    csh h;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) return NULL;
    cs_insn *insn = cs_malloc(h);
    const uint8_t *code = buffer;
    size_t size = length;
    uint64_t addr = start_va;
    while (size > 0) {
        uint64_t at = addr;
        if (!cs_disasm_iter(h, &code, &size, &addr, insn)) {
            /* undecodable byte: show it and step over it so the listing continues */
            ev(ev_stream, "insn", (void *) (uintptr_t) at);
            pr(pr_stream, ".byte 0x%02x", *code);
            code++; size--; addr++;
            ev(ev_stream, "/insn", (void *) (uintptr_t) addr);
        } else {
            ev(ev_stream, "insn", (void *) (uintptr_t) at);
            pr(pr_stream, "%-8s %s", insn->mnemonic, insn->op_str);
            ev(ev_stream, "/insn", (void *) (uintptr_t) addr);
        }
        if (newline) pr(pr_stream, "\n");
    }
    cs_free(insn, 1);
    cs_close(&h);
    return (void *) (uintptr_t) addr;
}
