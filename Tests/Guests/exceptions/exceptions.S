// exceptions.S - bare-metal AArch64 guest that exercises the exception model.
//
// An EL1 "kernel" installs a VBAR_EL1 vector table, then runs numbered checks.
// Each check arms the handler for exactly one synchronous exception, provokes
// it (at EL1, or at EL0 after an ERET), and compares what the handler recorded
// (vector offset, ESR_EL1, ELR_EL1, SPSR_EL1, FAR_EL1, number of exceptions)
// with the exact values the Arm ARM (DDI 0487) prescribes. Each check prints
// one line on the PL011 UART:
//
//     PASS <name>
//     FAIL <name> <FIELD>=<actual> expected <expected> ...
//
// then the kernel prints DONE and powers off with PSCI SYSTEM_OFF.
// An exception nobody expected prints "FAIL <name> unexpected exception ..."
// and powers off at once (no DONE).
//
// Integer A64 only (no FP/SIMD). With the MMU off every data access is to
// Device memory, so all loads and stores here are naturally aligned except the
// ones that are meant to fault.
//
// Checked against QEMU 7.2 (qemu-system-aarch64 -M virt -cpu cortex-a57):
// QEMU does not implement SP alignment checking (SCTLR_EL1.SA; see
// gen_check_sp_alignment in target/arm/translate-a64.c), so check
// sp_alignment_el1 prints "SKIP sp_alignment_el1 ..." when no exception is
// taken at all, and PASS/FAIL only when the fault is taken.

    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5

    .equ PSCI_VERSION,    0x84000000
    .equ PSCI_SYSTEM_OFF, 0x84000008

    // SCTLR_EL1 bits
    .equ SCTLR_SA,   (1 << 3)           // SP alignment check at EL1
    .equ SCTLR_SA0,  (1 << 4)           // SP alignment check at EL0
    .equ SCTLR_nTWI, (1 << 16)          // 0: WFI at EL0 traps to EL1

    // SPSR values
    .equ SPSR_EL0t,  0x000
    .equ SPSR_EL1t,  0x3c4              // D, A, I, F masked, EL1 with SP_EL0
    .equ SPSR_EL1h,  0x3c5              // D, A, I, F masked, EL1 with SP_EL1
    .equ SPSR_EL2h,  0x009              // an EL this PE (no EL2) cannot return to
    .equ SPSR_IL,    (1 << 20)

    // Vector offsets (VBAR_EL1 + ...)
    .equ VEC_CUR_SP0_SYNC,  0x000
    .equ VEC_CUR_SPX_SYNC,  0x200
    .equ VEC_LOWER64_SYNC,  0x400

    // ESR_EL1 = EC << 26 | IL << 25 | ISS
    .equ ESR_IL,     (1 << 25)
    .equ ESR_BACK_TO_KERNEL, (0x15 << 26) | ESR_IL | 0xfff   // SVC #0xfff from EL0

    // The exception record (struct rec, in .bss). x28 holds its address in
    // all kernel code.
    .equ REC_COUNT,       0             // synchronous exceptions taken since armed
    .equ REC_VEC,         8             // vector offset of the last one
    .equ REC_ESR,        16
    .equ REC_ELR,        24
    .equ REC_SPSR,       32
    .equ REC_FAR,        40
    .equ REC_MODE,       48             // what the handler does (MODE_*)
    .equ REC_RESUME_PC,  56             // MODE_AT / back to kernel: new ELR_EL1
    .equ REC_RESUME_SPSR, 64            //                          new SPSR_EL1
    .equ REC_BACK_ELR,   72             // ELR_EL1 of the SVC #0xfff
    .equ REC_BACK_SPSR,  80             // SPSR_EL1 of the SVC #0xfff
    .equ REC_NAME,       88             // current check's name
    .equ REC_FAILED,     96             // current check has failed
    .equ REC_SIZE,      128

    // Handler modes: set by the check before the exception, cleared by the
    // handler when it takes one (a second exception is then unexpected).
    .equ MODE_NONE,   0                 // no exception expected
    .equ MODE_RETURN, 1                 // ERET to ELR_EL1 as it is (SVC, HVC)
    .equ MODE_SKIP,   2                 // ERET to ELR_EL1 + 4 (skip the faulting instruction)
    .equ MODE_AT,     3                 // ERET to rec.resume_pc with SPSR = rec.resume_spsr

// ---------------------------------------------------------------------------
// Macros

// mov64 reg, constant: load any 64-bit constant with MOVZ/MOVK.
.macro mov64 reg, val
    movz    \reg, #((\val) & 0xffff)
    .if (((\val) >> 16) & 0xffff)
    movk    \reg, #(((\val) >> 16) & 0xffff), lsl #16
    .endif
    .if (((\val) >> 32) & 0xffff)
    movk    \reg, #(((\val) >> 32) & 0xffff), lsl #32
    .endif
    .if (((\val) >> 48) & 0xffff)
    movk    \reg, #(((\val) >> 48) & 0xffff), lsl #48
    .endif
.endm

// cstring reg, "text": reg = address of a NUL-terminated copy of text in .rodata.
.macro cstring reg, text
    .pushsection .rodata
.Lstr\@:
    .asciz  "\text"
    .popsection
    adr     \reg, .Lstr\@
.endm

// begin_check name / end_check: one output line per check.
.macro begin_check name
    cstring x0, "\name"
    bl      check_begin
.endm

.macro end_check
    bl      check_end
.endm

// arm mode: expect exactly one synchronous exception, handled as `mode` says.
.macro arm mode
    str     xzr, [x28, #REC_COUNT]
    mov     x0, #\mode
    str     x0, [x28, #REC_MODE]
.endm

// set_resume label, spsr: where MODE_AT and the back-to-kernel SVC resume.
.macro set_resume label, spsr
    adr     x0, \label
    str     x0, [x28, #REC_RESUME_PC]
    mov64   x0, \spsr
    str     x0, [x28, #REC_RESUME_SPSR]
.endm

// set_nzcv constant: PSTATE.{N,Z,C,V} = constant[31:28].
.macro set_nzcv val
    mov64   x0, \val
    msr     nzcv, x0
.endm

// run_el0 routine, spsr: ERET to `routine` with SPSR_EL1 = spsr (an EL0t
// value). The routine ends with SVC #0xfff, which the lower-EL handler turns
// into an ERET to the instruction after this macro, at EL1h with D, A, I, F
// masked. x1-x27 pass through both ways unchanged.
.macro run_el0 routine, spsr
    set_resume .Lback\@, SPSR_EL1h
    adr     x0, \routine
    msr     elr_el1, x0
    mov64   x0, \spsr
    msr     spsr_el1, x0
    eret
.Lback\@:
.endm

// expect "FIELD", actual_reg, expected_reg
.macro expect name, actual, expected
    mov     x0, \actual
    mov     x1, \expected
    cstring x2, "\name"
    bl      check_eq
.endm

// expect_rec offset, "FIELD", constant: the recorded field equals constant.
.macro expect_rec off, name, val
    ldr     x0, [x28, #\off]
    mov64   x1, \val
    cstring x2, "\name"
    bl      check_eq
.endm

// expect_rec_at offset, "FIELD", label[, addend]: the recorded field equals
// the address label + addend.
.macro expect_rec_at off, name, label, addend=0
    ldr     x0, [x28, #\off]
    adr     x1, \label
    add     x1, x1, #\addend
    cstring x2, "\name"
    bl      check_eq
.endm

// expect_one vec, esr: exactly one exception, taken at VBAR_EL1 + vec with
// syndrome esr.
.macro expect_one vec, esr
    expect_rec REC_COUNT, "exceptions", 1
    expect_rec REC_VEC, "vector", \vec
    expect_rec REC_ESR, "ESR", \esr
.endm

// ---------------------------------------------------------------------------
// The kernel

    .section .text.boot, "ax"
    .global _start
_start:
    // Known PSTATE: D, A, I, F masked (they are at reset, but say so).
    msr     daifset, #0xf
    adr     x0, stack_top           // SP_EL1 (we run in EL1h)
    mov     sp, x0
    adr     x0, el0_stack_top       // SP_EL0, used by EL0 and by EL1t
    msr     sp_el0, x0
    // VBAR_EL1 bits [10:0] are RES0: the table is 2 KiB aligned.
    adr     x0, vectors
    msr     vbar_el1, x0
    // SCTLR_EL1: SP alignment checks on at EL1 and EL0 (SA, SA0; both set at
    // reset), MMU and caches stay off.
    mrs     x0, sctlr_el1
    orr     x0, x0, #(SCTLR_SA | SCTLR_SA0)
    msr     sctlr_el1, x0
    isb
    adr     x28, rec

    // -----------------------------------------------------------------------
    // 1. svc_el1: SVC at EL1 (AArch64.CallSupervisor). Taken to EL1 at the
    //    "current EL with SP_ELx" synchronous vector (+0x200); ESR_EL1.EC =
    //    0x15 (SVC from AArch64), IL = 1, ISS = imm16; ELR_EL1 = the
    //    preferred return address, which for SVC is the next instruction;
    //    SPSR_EL1 = PSTATE at the SVC (NZCV, DAIF, M = EL1h = 0b0101).
    begin_check svc_el1
    arm     MODE_RETURN
    set_nzcv 0x60000000             // Z, C
    svc     #0x123
svc_el1_next:
    expect_one VEC_CUR_SPX_SYNC, (0x15 << 26) | ESR_IL | 0x123     // 0x56000123
    expect_rec_at REC_ELR, "ELR", svc_el1_next
    expect_rec REC_SPSR, "SPSR", 0x60000000 | SPSR_EL1h
    end_check

    // -----------------------------------------------------------------------
    // 2. undef_el1: UDF #0 (0x00000000, a permanently undefined encoding) at
    //    EL1. EC = 0x00 (unknown reason), IL = 1, ISS = 0: ESR = 0x02000000;
    //    ELR_EL1 = the UDF itself. The handler skips it.
    begin_check undef_el1
    arm     MODE_SKIP
    msr     nzcv, xzr
undef_el1_insn:
    .word   0x00000000              // udf #0
    expect_one VEC_CUR_SPX_SYNC, ESR_IL                             // 0x02000000
    expect_rec_at REC_ELR, "ELR", undef_el1_insn
    expect_rec REC_SPSR, "SPSR", SPSR_EL1h
    end_check

    // -----------------------------------------------------------------------
    // 3. brk_el1: BRK #imm16 (AArch64.SoftwareBreakpoint). EC = 0x3C, IL = 1,
    //    ISS = imm16; ELR_EL1 = the BRK itself (not the next instruction).
    begin_check brk_el1
    arm     MODE_SKIP
    set_nzcv 0x20000000             // C
brk_el1_insn:
    brk     #0x42
    expect_one VEC_CUR_SPX_SYNC, (0x3c << 26) | ESR_IL | 0x42       // 0xF2000042
    expect_rec_at REC_ELR, "ELR", brk_el1_insn
    expect_rec REC_SPSR, "SPSR", 0x20000000 | SPSR_EL1h
    end_check

    // -----------------------------------------------------------------------
    // 4. eret_to_el0: ERET with SPSR_EL1.M = EL0t (AArch64.ExceptionReturn)
    //    lands at ELR_EL1 at EL0: the routine runs on SP_EL0 and sees NZCV
    //    restored from SPSR_EL1; its SVC is taken from a lower EL, at +0x400,
    //    with SPSR_EL1.M = 0b0000 (EL0t) and D, A, I, F clear, as ERET set them.
    begin_check eret_to_el0
    arm     MODE_NONE
    mov     x4, xzr
    mov     x5, xzr
    str     xzr, [x28, #REC_BACK_ELR]
    mov64   x0, 0xffffffff
    str     x0, [x28, #REC_BACK_SPSR]
    run_el0 el0_probe, 0xa0000000 | SPSR_EL0t                       // N, C; EL0t
    adr     x6, el0_stack_top
    expect  "EL0 SP", x4, x6
    mov64   x6, 0xa0000000
    expect  "EL0 NZCV", x5, x6
    expect_rec REC_COUNT, "exceptions", 0
    expect_rec_at REC_BACK_ELR, "ELR", el0_probe_next
    expect_rec REC_BACK_SPSR, "SPSR", 0xa0000000 | SPSR_EL0t
    end_check

    // -----------------------------------------------------------------------
    // 5. svc_el0: SVC at EL0 is taken to EL1 at the "lower EL using AArch64"
    //    synchronous vector (+0x400); ESR = 0x56000007 for SVC #7; ELR_EL1 =
    //    the next instruction; SPSR_EL1 = EL0t with the NZCV EL0 set.
    begin_check svc_el0
    arm     MODE_RETURN
    run_el0 el0_svc, SPSR_EL0t
    expect_one VEC_LOWER64_SYNC, (0x15 << 26) | ESR_IL | 7          // 0x56000007
    expect_rec_at REC_ELR, "ELR", el0_svc_next
    expect_rec REC_SPSR, "SPSR", 0x90000000 | SPSR_EL0t             // N, V
    end_check

    // -----------------------------------------------------------------------
    // 6. undef_el0_sysreg: MRS of an EL1 register (SCTLR_EL1) at EL0 is
    //    UNDEFINED (the access check of every EL1 system register: "if
    //    PSTATE.EL == EL0 then UNDEFINED"): EC 0x00, ESR = 0x02000000, taken
    //    at +0x400, ELR_EL1 = the MRS.
    begin_check undef_el0_sysreg
    arm     MODE_SKIP
    run_el0 el0_mrs_sctlr, SPSR_EL0t
    expect_one VEC_LOWER64_SYNC, ESR_IL                             // 0x02000000
    expect_rec_at REC_ELR, "ELR", el0_mrs_sctlr_insn
    expect_rec REC_SPSR, "SPSR", SPSR_EL0t
    end_check

    // -----------------------------------------------------------------------
    // 7. wfi_el0_trapped: with SCTLR_EL1.nTWI = 0, WFI at EL0 traps to EL1
    //    (AArch64.CheckForWFxTrap; this trap has priority over HCR_EL2.TWI).
    //    EC = 0x01, IL = 1, ISS: CV = 1, COND = 0b1110, TI = 0 (WFI):
    //    ESR = 0x07E00000; ELR_EL1 = the WFI.
    begin_check wfi_el0_trapped
    mrs     x0, sctlr_el1
    bic     x0, x0, #SCTLR_nTWI
    msr     sctlr_el1, x0
    isb
    arm     MODE_SKIP
    run_el0 el0_wfi, SPSR_EL0t
    expect_one VEC_LOWER64_SYNC, (0x01 << 26) | ESR_IL | (1 << 24) | (0xe << 20)  // 0x07E00000
    expect_rec_at REC_ELR, "ELR", el0_wfi_insn
    expect_rec REC_SPSR, "SPSR", SPSR_EL0t
    end_check

    // -----------------------------------------------------------------------
    // 8. alignment_el0: a load-exclusive must be naturally aligned whatever
    //    SCTLR_EL1.A says (AArch64.CheckAlignment, AccType_ATOMIC): LDXR Xt
    //    at an address that is 4 but not 8 aligned is a Data Abort from a
    //    lower EL: EC = 0x24, IL = 1, ISV = 0, WnR = 0, DFSC = 0b100001
    //    (alignment fault): ESR = 0x92000021; FAR_EL1 = the address;
    //    ELR_EL1 = the LDXR.
    begin_check alignment_el0
    arm     MODE_SKIP
    adr     x1, buffer
    add     x1, x1, #4
    run_el0 el0_ldxr, SPSR_EL0t
    expect_one VEC_LOWER64_SYNC, (0x24 << 26) | ESR_IL | 0x21       // 0x92000021
    expect_rec_at REC_ELR, "ELR", el0_ldxr_insn
    expect_rec_at REC_FAR, "FAR", buffer, 4
    expect_rec REC_SPSR, "SPSR", SPSR_EL0t
    end_check

    // -----------------------------------------------------------------------
    // 9. sp_alignment_el1: with SCTLR_EL1.SA = 1, a load or store at EL1 whose
    //    base register is SP faults if SP is not 16-byte aligned
    //    (AArch64.SPAlignmentFault): EC = 0x26, IL = 1, ISS = 0:
    //    ESR = 0x9A000000; ELR_EL1 = the load. The faulting code runs in EL1t
    //    (SPSel = 0: SP is SP_EL0), so the exception is taken at the "current
    //    EL with SP_EL0" vector (+0x000), and the handler runs on the intact
    //    SP_EL1 (taking an exception to EL1 selects SP_EL1).
    begin_check sp_alignment_el1
    arm     MODE_SKIP
    msr     nzcv, xzr
    msr     spsel, #0
    add     sp, sp, #8              // SP_EL0 = 8 mod 16
sp_alignment_insn:
    ldr     x1, [sp]
    sub     sp, sp, #8
    msr     spsel, #1
    ldr     x0, [x28, #REC_COUNT]
    cbnz    x0, 1f
    // No exception at all: the platform does not check SP alignment (QEMU).
    cstring x0, "SKIP sp_alignment_el1 no SP alignment fault taken\n"
    bl      puts
    b       2f
1:  expect_one VEC_CUR_SP0_SYNC, (0x26 << 26) | ESR_IL                 // 0x9A000000
    expect_rec_at REC_ELR, "ELR", sp_alignment_insn
    expect_rec REC_SPSR, "SPSR", SPSR_EL1t
    end_check
2:

    // -----------------------------------------------------------------------
    // 10. pc_alignment: BR to an address with bits [1:0] != 0 completes, and
    //     the fetch from the misaligned PC takes a PC alignment fault
    //     (AArch64.PCAlignmentFault): EC = 0x22, IL = 1, ISS = 0:
    //     ESR = 0x8A000000; ELR_EL1 = FAR_EL1 = the misaligned address.
    begin_check pc_alignment
    arm     MODE_AT
    set_resume pc_alignment_done, SPSR_EL1h
    adr     x1, pc_alignment_target
    add     x1, x1, #2
    msr     nzcv, xzr
    br      x1
pc_alignment_target:
    .word   0x00000000              // never executed: UDF, should the PC be
    .word   0x00000000              // rounded or the halfwords run together
pc_alignment_done:
    expect_one VEC_CUR_SPX_SYNC, (0x22 << 26) | ESR_IL              // 0x8A000000
    expect_rec_at REC_ELR, "ELR", pc_alignment_target, 2
    expect_rec_at REC_FAR, "FAR", pc_alignment_target, 2
    expect_rec REC_SPSR, "SPSR", SPSR_EL1h
    end_check

    // -----------------------------------------------------------------------
    // 11. illegal_return: ERET with SPSR_EL1.M = EL2h on a PE without EL2 is
    //     an illegal exception return (IllegalExceptionReturn): PSTATE.EL and
    //     PSTATE.SP are unchanged, PSTATE.IL is set, NZCV and DAIF come from
    //     SPSR_EL1, and the PC = ELR_EL1. The next instruction then takes an
    //     Illegal Execution State exception: EC = 0x0E, IL = 1, ISS = 0:
    //     ESR = 0x3A000000, at +0x200 (still EL1h), ELR_EL1 = that instruction,
    //     SPSR_EL1 = EL1h with IL (bit 20) set and D, A, I, F clear.
    begin_check illegal_return
    arm     MODE_AT
    set_resume illegal_return_done, SPSR_EL1h
    adr     x0, illegal_return_target
    msr     elr_el1, x0
    mov64   x0, SPSR_EL2h
    msr     spsr_el1, x0
    eret
illegal_return_target:
    nop                             // faults: PSTATE.IL is set
    b       illegal_return_done
illegal_return_done:
    expect_one VEC_CUR_SPX_SYNC, (0x0e << 26) | ESR_IL              // 0x3A000000
    expect_rec_at REC_ELR, "ELR", illegal_return_target
    expect_rec REC_SPSR, "SPSR", SPSR_IL | 0x5                      // 0x00100005
    end_check

    // -----------------------------------------------------------------------
    // 12. hvc_el0_undef: HVC is UNDEFINED at EL0 (the HVC pseudocode: "if
    //     PSTATE.EL == EL0 then UNDEFINED"): EC 0x00, ESR = 0x02000000 taken
    //     to EL1 at +0x400, ELR_EL1 = the HVC. It must not reach the
    //     hypervisor: x0 holds PSCI_VERSION, which a hypervisor would answer.
    begin_check hvc_el0_undef
    arm     MODE_SKIP
    run_el0 el0_hvc, SPSR_EL0t
    expect_one VEC_LOWER64_SYNC, ESR_IL                             // 0x02000000
    expect_rec_at REC_ELR, "ELR", el0_hvc_insn
    mov64   x6, PSCI_VERSION
    expect  "x0", x7, x6
    end_check

    cstring x0, "DONE\n"
    bl      puts
system_off:
    mov64   x0, PSCI_SYSTEM_OFF
    hvc     #0
1:  wfi
    b       1b

// ---------------------------------------------------------------------------
// EL0 routines. Each ends with SVC #0xfff: "back to the kernel".

el0_probe:
    mov     x4, sp                  // SP_EL0
    mrs     x5, nzcv                // readable at EL0
    svc     #0xfff
el0_probe_next:
    b       .

el0_svc:
    mov64   x0, 0x90000000          // N, V
    msr     nzcv, x0                // writable at EL0
    svc     #7
el0_svc_next:
    svc     #0xfff
    b       .

el0_mrs_sctlr:
el0_mrs_sctlr_insn:
    mrs     x1, sctlr_el1           // UNDEFINED at EL0
    svc     #0xfff
    b       .

el0_wfi:
el0_wfi_insn:
    wfi                             // traps: SCTLR_EL1.nTWI = 0
    svc     #0xfff
    b       .

el0_ldxr:                           // x1 = an address 4 mod 8
el0_ldxr_insn:
    ldxr    x2, [x1]
    svc     #0xfff
    b       .

el0_hvc:
    mov64   x0, PSCI_VERSION
el0_hvc_insn:
    hvc     #0                      // UNDEFINED at EL0
    mov     x7, x0                  // still PSCI_VERSION
    svc     #0xfff
    b       .

// ---------------------------------------------------------------------------
// Check bookkeeping: include/checks.S.
#include "checks.S"

// ---------------------------------------------------------------------------
// PL011 output

#include "console.S"

// ---------------------------------------------------------------------------
// Exception handling

// exc_sync: x0 = vector offset, the interrupted x0 and x1 at [sp]. Runs on
// SP_EL1 with D, A, I, F masked.
exc_sync:
    stp     x2, x3, [sp, #-16]!
    adr     x1, rec
    mrs     x2, esr_el1
    // SVC #0xfff from EL0: back to the kernel. Not recorded.
    cmp     x0, #VEC_LOWER64_SYNC
    b.ne    1f
    mov64   x3, ESR_BACK_TO_KERNEL
    cmp     x2, x3
    b.ne    1f
    mrs     x2, elr_el1
    str     x2, [x1, #REC_BACK_ELR]
    mrs     x2, spsr_el1
    str     x2, [x1, #REC_BACK_SPSR]
    b       exc_resume_at
    // Record the exception.
1:  str     x0, [x1, #REC_VEC]
    str     x2, [x1, #REC_ESR]
    mrs     x2, elr_el1
    str     x2, [x1, #REC_ELR]
    mrs     x2, spsr_el1
    str     x2, [x1, #REC_SPSR]
    mrs     x2, far_el1
    str     x2, [x1, #REC_FAR]
    ldr     x2, [x1, #REC_COUNT]
    add     x2, x2, #1
    str     x2, [x1, #REC_COUNT]
    ldr     x2, [x1, #REC_MODE]
    str     xzr, [x1, #REC_MODE]    // one exception per arm
    cmp     x2, #MODE_RETURN
    b.eq    exc_return
    cmp     x2, #MODE_SKIP
    b.eq    exc_skip
    cmp     x2, #MODE_AT
    b.eq    exc_resume_at
    b       exc_unexpected
exc_skip:
    mrs     x2, elr_el1
    add     x2, x2, #4
    msr     elr_el1, x2
    b       exc_return
exc_resume_at:
    ldr     x2, [x1, #REC_RESUME_PC]
    msr     elr_el1, x2
    ldr     x2, [x1, #REC_RESUME_SPSR]
    msr     spsr_el1, x2
exc_return:
    ldp     x2, x3, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

// exc_unexpected: x0 = vector offset. Prints
// "FAIL <name> unexpected exception vector=... ESR=... ELR=... SPSR=... FAR=..."
// and powers off.
exc_unexpected:
    adr     x28, rec
    mov     x19, x0
    cstring x0, "FAIL "
    bl      puts
    ldr     x0, [x28, #REC_NAME]
    cbz     x0, 1f
    bl      puts
1:  cstring x0, " unexpected exception vector="
    bl      puts
    mov     x0, x19
    bl      puthex
    cstring x0, " ESR="
    bl      puts
    mrs     x0, esr_el1
    bl      puthex
    cstring x0, " ELR="
    bl      puts
    mrs     x0, elr_el1
    bl      puthex
    cstring x0, " SPSR="
    bl      puts
    mrs     x0, spsr_el1
    bl      puthex
    cstring x0, " FAR="
    bl      puts
    mrs     x0, far_el1
    bl      puthex
    mov     w0, #'\n'
    bl      putc
    b       system_off

// Vector table: 16 entries of 0x80 bytes; VBAR_EL1 needs 2 KiB alignment.
.macro vector handler, offset
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x0, #\offset
    b       \handler
.endm

    .balign 2048
vectors:
    vector exc_sync,       0x000    // current EL, SP_EL0: synchronous
    vector exc_unexpected, 0x080    //                     IRQ
    vector exc_unexpected, 0x100    //                     FIQ
    vector exc_unexpected, 0x180    //                     SError
    vector exc_sync,       0x200    // current EL, SP_ELx: synchronous
    vector exc_unexpected, 0x280
    vector exc_unexpected, 0x300
    vector exc_unexpected, 0x380
    vector exc_sync,       0x400    // lower EL, AArch64:  synchronous
    vector exc_unexpected, 0x480
    vector exc_unexpected, 0x500
    vector exc_unexpected, 0x580
    vector exc_unexpected, 0x600    // lower EL, AArch32 (never used)
    vector exc_unexpected, 0x680
    vector exc_unexpected, 0x700
    vector exc_unexpected, 0x780

// ---------------------------------------------------------------------------

    .bss
    .balign 16
rec:
    .space  REC_SIZE
buffer:
    .space  16
stack:
    .space  4096
stack_top:
el0_stack:
    .space  4096
el0_stack_top:
