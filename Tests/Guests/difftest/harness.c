/*
 * Differential-test harness: the QEMU side of Tests/AArch64Tests/DifferentialTests.swift.
 *
 * A static AArch64 Linux program run under `qemu-aarch64 -cpu cortex-a57`. It reads a batch of
 * test cases (instruction sequences plus initial register/memory state) from the input file,
 * runs each sequence at a fixed address, and writes every case's final state to the output
 * file. Built and run by `DifferentialHarness.swift`; not a bare-metal guest (it is C only, so
 * scripts/build-guests, which builds only .S files, ignores it).
 *
 * File formats (little-endian; the Swift side, `DiffRecordLayout`, mirrors them):
 *
 *   header   (9 x u64): magic "ARMVDIF1", count, flags, code_base, slot_size, max_words,
 *                       window_base, window_size, reserved (0)
 *   input    per case: u32 nwords; u32 slot; u32 words[max_words] (padded to 8 bytes);
 *                      u64 x[31]; u64 nzcv;
 *                      if flags & FLAG_VECTOR: u8 v[32][16]; u64 fpcr; u64 fpsr;
 *                      u8 window[window_size] (padded to 8 bytes)
 *   output   per case: u64 status (0 = ran to the end, else the signal number);
 *                      u64 pc (the faulting instruction, 0 if none); u64 fault_address;
 *                      u64 x[31]; u64 nzcv; [vector state as above]; u8 window[...]
 *
 * A case's sequence starts at code_base + slot * slot_size + 4 (slots are distinct). The slot is
 *   ldr x30, [sp, #496]        ; the last input register (the trampoline needed x30 to get here)
 *   <sequence>                 ; nwords instructions
 *   str x30, [sp, #240]        ; back to the trampoline: x30 first, the rest in difftest_exit
 *   ldr x30, [sp, #512]
 *   br  x30
 * The sequence must not touch SP (the trampoline keeps its frame there).
 *
 * The memory window (window_size bytes at window_base) is set from the case before it runs.
 * SIGILL/SIGSEGV/SIGBUS/SIGTRAP/SIGFPE inside a case are caught: the case records the signal,
 * the faulting PC and the registers at the fault, and the next case runs.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <asm/sigcontext.h>

#define MAGIC 0x3146494456524D41ull /* "ARMVDIF1" */
#define FLAG_VECTOR 1ull

struct header {
    uint64_t magic, count, flags, code_base, slot_size, max_words, window_base, window_size, reserved;
};

/* Vector state: q0-q31, FPCR, FPSR (528 bytes). */
struct vector_state {
    uint8_t v[32][16];
    uint64_t fpcr, fpsr;
};

/* The trampoline (below). gpr_in/gpr_out: x0-x30 and NZCV; vin/vout: NULL or vector state. */
extern void difftest_enter(const uint64_t *gpr_in, uint64_t *gpr_out, uint64_t entry,
                           const struct vector_state *vin, struct vector_state *vout);
extern const uint32_t difftest_prefix[1];
extern const uint32_t difftest_suffix[3];

/*
 * Frame of difftest_enter (SP-relative): [0,256) output x0-x30 + NZCV, [256,512) input x0-x30 +
 * NZCV, 512 exit address, 520 gpr_out, 528 entry, 536 vout, 544 saved FPCR, 560-655 x19-x30,
 * 656-719 d8-d15.
 */
__asm__(
    ".text\n"
    ".balign 4\n"
    ".global difftest_prefix\n"
    "difftest_prefix:\n"
    "    ldr x30, [sp, #496]\n"
    ".global difftest_suffix\n"
    "difftest_suffix:\n"
    "    str x30, [sp, #240]\n"
    "    ldr x30, [sp, #512]\n"
    "    br x30\n"
    "\n"
    ".global difftest_enter\n"
    ".type difftest_enter, %function\n"
    "difftest_enter:\n"
    "    sub sp, sp, #720\n"
    "    add x9, sp, #560\n"
    "    stp x19, x20, [x9, #0]\n"
    "    stp x21, x22, [x9, #16]\n"
    "    stp x23, x24, [x9, #32]\n"
    "    stp x25, x26, [x9, #48]\n"
    "    stp x27, x28, [x9, #64]\n"
    "    stp x29, x30, [x9, #80]\n"
    "    stp d8, d9, [x9, #96]\n"
    "    stp d10, d11, [x9, #112]\n"
    "    stp d12, d13, [x9, #128]\n"
    "    stp d14, d15, [x9, #144]\n"
    "    mrs x5, fpcr\n"
    "    str x5, [sp, #544]\n"
    "    str x1, [sp, #520]\n"
    "    str x2, [sp, #528]\n"
    "    str x4, [sp, #536]\n"
    "    adr x5, difftest_exit\n"
    "    str x5, [sp, #512]\n"
    "    add x7, sp, #256\n"
    "    mov x5, #0\n"
    "1:  ldr x6, [x0, x5, lsl #3]\n"
    "    str x6, [x7, x5, lsl #3]\n"
    "    add x5, x5, #1\n"
    "    cmp x5, #32\n"
    "    b.ne 1b\n"
    "    cbz x3, 2f\n"
    "    ldp q0, q1, [x3, #0]\n"
    "    ldp q2, q3, [x3, #32]\n"
    "    ldp q4, q5, [x3, #64]\n"
    "    ldp q6, q7, [x3, #96]\n"
    "    ldp q8, q9, [x3, #128]\n"
    "    ldp q10, q11, [x3, #160]\n"
    "    ldp q12, q13, [x3, #192]\n"
    "    ldp q14, q15, [x3, #224]\n"
    "    ldp q16, q17, [x3, #256]\n"
    "    ldp q18, q19, [x3, #288]\n"
    "    ldp q20, q21, [x3, #320]\n"
    "    ldp q22, q23, [x3, #352]\n"
    "    ldp q24, q25, [x3, #384]\n"
    "    ldp q26, q27, [x3, #416]\n"
    "    ldp q28, q29, [x3, #448]\n"
    "    ldp q30, q31, [x3, #480]\n"
    "    ldr x5, [x3, #512]\n"
    "    msr fpcr, x5\n"
    "    ldr x5, [x3, #520]\n"
    "    msr fpsr, x5\n"
    "2:  ldr x0, [sp, #504]\n"
    "    msr nzcv, x0\n"
    "    clrex\n"
    "    ldp x0, x1, [sp, #256]\n"
    "    ldp x2, x3, [sp, #272]\n"
    "    ldp x4, x5, [sp, #288]\n"
    "    ldp x6, x7, [sp, #304]\n"
    "    ldp x8, x9, [sp, #320]\n"
    "    ldp x10, x11, [sp, #336]\n"
    "    ldp x12, x13, [sp, #352]\n"
    "    ldp x14, x15, [sp, #368]\n"
    "    ldp x16, x17, [sp, #384]\n"
    "    ldp x18, x19, [sp, #400]\n"
    "    ldp x20, x21, [sp, #416]\n"
    "    ldp x22, x23, [sp, #432]\n"
    "    ldp x24, x25, [sp, #448]\n"
    "    ldp x26, x27, [sp, #464]\n"
    "    ldp x28, x29, [sp, #480]\n"
    "    ldr x30, [sp, #528]\n"
    "    br x30\n"
    "\n"
    "difftest_exit:\n"
    "    stp x0, x1, [sp, #0]\n"
    "    stp x2, x3, [sp, #16]\n"
    "    stp x4, x5, [sp, #32]\n"
    "    stp x6, x7, [sp, #48]\n"
    "    stp x8, x9, [sp, #64]\n"
    "    stp x10, x11, [sp, #80]\n"
    "    stp x12, x13, [sp, #96]\n"
    "    stp x14, x15, [sp, #112]\n"
    "    stp x16, x17, [sp, #128]\n"
    "    stp x18, x19, [sp, #144]\n"
    "    stp x20, x21, [sp, #160]\n"
    "    stp x22, x23, [sp, #176]\n"
    "    stp x24, x25, [sp, #192]\n"
    "    stp x26, x27, [sp, #208]\n"
    "    stp x28, x29, [sp, #224]\n"
    "    mrs x0, nzcv\n"
    "    str x0, [sp, #248]\n"
    "    ldr x1, [sp, #536]\n"
    "    cbz x1, 3f\n"
    "    stp q0, q1, [x1, #0]\n"
    "    stp q2, q3, [x1, #32]\n"
    "    stp q4, q5, [x1, #64]\n"
    "    stp q6, q7, [x1, #96]\n"
    "    stp q8, q9, [x1, #128]\n"
    "    stp q10, q11, [x1, #160]\n"
    "    stp q12, q13, [x1, #192]\n"
    "    stp q14, q15, [x1, #224]\n"
    "    stp q16, q17, [x1, #256]\n"
    "    stp q18, q19, [x1, #288]\n"
    "    stp q20, q21, [x1, #320]\n"
    "    stp q22, q23, [x1, #352]\n"
    "    stp q24, q25, [x1, #384]\n"
    "    stp q26, q27, [x1, #416]\n"
    "    stp q28, q29, [x1, #448]\n"
    "    stp q30, q31, [x1, #480]\n"
    "    mrs x0, fpcr\n"
    "    str x0, [x1, #512]\n"
    "    mrs x0, fpsr\n"
    "    str x0, [x1, #520]\n"
    "3:  ldr x1, [sp, #520]\n"
    "    mov x5, #0\n"
    "4:  ldr x6, [sp, x5, lsl #3]\n"
    "    str x6, [x1, x5, lsl #3]\n"
    "    add x5, x5, #1\n"
    "    cmp x5, #32\n"
    "    b.ne 4b\n"
    "    ldr x5, [sp, #544]\n"
    "    msr fpcr, x5\n"
    "    add x9, sp, #560\n"
    "    ldp x19, x20, [x9, #0]\n"
    "    ldp x21, x22, [x9, #16]\n"
    "    ldp x23, x24, [x9, #32]\n"
    "    ldp x25, x26, [x9, #48]\n"
    "    ldp x27, x28, [x9, #64]\n"
    "    ldp x29, x30, [x9, #80]\n"
    "    ldp d8, d9, [x9, #96]\n"
    "    ldp d10, d11, [x9, #112]\n"
    "    ldp d12, d13, [x9, #128]\n"
    "    ldp d14, d15, [x9, #144]\n"
    "    add sp, sp, #720\n"
    "    ret\n"
    ".size difftest_enter, . - difftest_enter\n");

static sigjmp_buf case_jump;
static volatile sig_atomic_t in_case;
/* Where the signal handler records a faulting case. */
static uint64_t *fault_out;          /* status, pc, fault_address, x[31], nzcv */
static struct vector_state *fault_vout;

static void on_signal(int sig, siginfo_t *info, void *context) {
    if (!in_case) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    ucontext_t *uc = context;
    fault_out[0] = (uint64_t)sig;
    fault_out[1] = uc->uc_mcontext.pc;
    fault_out[2] = (uint64_t)(uintptr_t)info->si_addr;
    for (int i = 0; i < 31; i++) fault_out[3 + i] = uc->uc_mcontext.regs[i];
    fault_out[34] = uc->uc_mcontext.pstate & 0xF0000000ull;
    if (fault_vout) {
        /* The FP/SIMD registers are in the fpsimd_context record of __reserved. */
        unsigned char *p = (unsigned char *)uc->uc_mcontext.__reserved;
        unsigned char *end = p + sizeof(uc->uc_mcontext.__reserved);
        while (p + sizeof(struct _aarch64_ctx) <= end) {
            struct _aarch64_ctx *head = (struct _aarch64_ctx *)p;
            if (head->magic == 0 || head->size == 0) break;
            if (head->magic == FPSIMD_MAGIC) {
                struct fpsimd_context *fp = (struct fpsimd_context *)p;
                memcpy(fault_vout->v, fp->vregs, sizeof(fault_vout->v));
                fault_vout->fpcr = fp->fpcr;
                fault_vout->fpsr = fp->fpsr;
                break;
            }
            p += head->size;
        }
    }
    in_case = 0;
    siglongjmp(case_jump, 1);
}

/* Runs one case; 1 when a signal ended it (the handler filled in the record). */
static __attribute__((noinline)) int run_case(const uint64_t *gpr_in, uint64_t *gpr_out, uint64_t entry,
                                              const struct vector_state *vin, struct vector_state *vout) {
    if (sigsetjmp(case_jump, 1) != 0) return 1;
    in_case = 1;
    difftest_enter(gpr_in, gpr_out, entry, vin, vout);
    in_case = 0;
    return 0;
}

static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc(length > 0 ? (size_t)length : 1);
    if (!data || fread(data, 1, (size_t)length, f) != (size_t)length) { perror(path); exit(2); }
    fclose(f);
    *size = (size_t)length;
    return data;
}

static void *map_fixed(uint64_t address, uint64_t size, int prot, const char *what) {
    uint64_t page = 4096;
    uint64_t start = address & ~(page - 1);
    uint64_t length = ((address + size + page - 1) & ~(page - 1)) - start;
    void *p = mmap((void *)(uintptr_t)start, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || (uint64_t)(uintptr_t)p != start) {
        fprintf(stderr, "harness: cannot map the %s at 0x%llx\n", what, (unsigned long long)start);
        exit(2);
    }
    return p;
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT OUTPUT\n", argv[0]);
        return 2;
    }
    size_t input_size;
    unsigned char *input = read_file(argv[1], &input_size);
    struct header h;
    if (input_size < sizeof h) { fprintf(stderr, "harness: short input\n"); return 2; }
    memcpy(&h, input, sizeof h);
    if (h.magic != MAGIC || h.slot_size < 4 * (h.max_words + 4) || h.slot_size % 4 != 0) {
        fprintf(stderr, "harness: bad header\n");
        return 2;
    }
    int vector = (h.flags & FLAG_VECTOR) != 0;
    size_t words_bytes = pad8(4 * h.max_words);
    size_t window_bytes = pad8(h.window_size);
    size_t vector_bytes = vector ? sizeof(struct vector_state) : 0;
    size_t in_record = 8 + words_bytes + 32 * 8 + vector_bytes + window_bytes;
    size_t out_record = 3 * 8 + 32 * 8 + vector_bytes + window_bytes;
    if (input_size != sizeof h + h.count * in_record) {
        fprintf(stderr, "harness: input size %zu does not match %llu cases\n", input_size,
                (unsigned long long)h.count);
        return 2;
    }

    uint64_t slots = 0;
    for (uint64_t i = 0; i < h.count; i++) {
        uint32_t head[2];
        memcpy(head, input + sizeof h + i * in_record, sizeof head);
        if (head[0] > h.max_words) { fprintf(stderr, "harness: case %llu too long\n", (unsigned long long)i); return 2; }
        if (head[1] >= slots) slots = (uint64_t)head[1] + 1;
    }
    if (slots > (1u << 20)) { fprintf(stderr, "harness: slot out of range\n"); return 2; }
    uint32_t *code = map_fixed(h.code_base, slots * h.slot_size, PROT_READ | PROT_WRITE | PROT_EXEC, "code");
    unsigned char *window = map_fixed(h.window_base, h.window_size, PROT_READ | PROT_WRITE, "window");
    window += h.window_base & 4095;

    /* Lay out every slot; unused words are UDF #0. */
    memset(code, 0, slots * h.slot_size);
    for (uint64_t i = 0; i < h.count; i++) {
        const unsigned char *record = input + sizeof h + i * in_record;
        uint32_t head[2];
        memcpy(head, record, sizeof head);
        uint32_t *slot = code + head[1] * (h.slot_size / 4);
        slot[0] = difftest_prefix[0];
        memcpy(slot + 1, record + 8, 4 * (size_t)head[0]);
        memcpy(slot + 1 + head[0], difftest_suffix, sizeof difftest_suffix);
    }
    __builtin___clear_cache((char *)code, (char *)code + slots * h.slot_size);

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_signal;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    int signals[] = {SIGILL, SIGSEGV, SIGBUS, SIGTRAP, SIGFPE};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaction(signals[i], &action, NULL);

    unsigned char *output = calloc(h.count, out_record);
    if (!output) { perror("calloc"); return 2; }
    for (uint64_t i = 0; i < h.count; i++) {
        const unsigned char *record = input + sizeof h + i * in_record;
        const uint64_t *gpr_in = (const uint64_t *)(record + 8 + words_bytes);
        const struct vector_state *vin = vector ? (const struct vector_state *)(record + 8 + words_bytes + 256) : NULL;
        const unsigned char *window_in = record + 8 + words_bytes + 256 + vector_bytes;
        unsigned char *out = output + i * out_record;
        uint64_t *status = (uint64_t *)out;
        struct vector_state *vout = vector ? (struct vector_state *)(out + 24 + 256) : NULL;
        unsigned char *window_out = out + 24 + 256 + vector_bytes;

        memcpy(window, window_in, h.window_size);
        fault_out = status;
        fault_vout = vout;
        uint32_t slot;
        memcpy(&slot, record + 4, sizeof slot);
        if (run_case(gpr_in, status + 3, h.code_base + (uint64_t)slot * h.slot_size, vin, vout) == 0) {
            status[0] = status[1] = status[2] = 0;
        }
        memcpy(window_out, window, h.window_size);
    }

    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(output, out_record, h.count, f) != h.count || fclose(f) != 0) {
        perror(argv[2]);
        return 2;
    }
    return 0;
}
