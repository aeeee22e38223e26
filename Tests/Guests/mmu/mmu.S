// mmu.S - bare-metal AArch64 guest that exercises the stage-1 MMU
// (VMSAv8-64, EL1&0 translation regime, 4 KB granule; Arm ARM DDI 0487,
// chapter "The AArch64 Virtual Memory System Architecture"). Section numbers
// move between revisions of the Arm ARM, so the comments cite section titles,
// register names and pseudocode functions instead.
//
// The EL1 "kernel" builds its own translation tables in .bss with the MMU
// off, turns the MMU on with an identity map of RAM and the PL011, and then
// runs numbered checks against extra test mappings (aliases of the same
// physical memory through 1 GiB, 2 MiB and 4 KiB descriptors, invalid
// descriptors, AF=0, read-only, EL1-only, execute-never, an output address
// beyond TCR_EL1.IPS, Device memory, ASID-tagged pages). Every check compares
// what the exception handler recorded (vector offset, ESR_EL1, FAR_EL1,
// ELR_EL1), PAR_EL1 after AT, or loaded values with the exact values the Arm
// ARM prescribes, and prints one line on the PL011 UART:
//
//     PASS <name>
//     FAIL <name> <FIELD>=<actual> expected <expected> ...
//     SKIP <name> (<reason>)
//
// then the kernel prints DONE and powers off with PSCI SYSTEM_OFF. An
// exception nobody expected prints "FAIL <name> unexpected exception ..." and
// powers off at once (no DONE).
//
// Integer A64 only (no FP/SIMD). Until the MMU is on every data access is to
// Device-nGnRnE memory ("The effects of disabling a stage of address
// translation"), so all loads and stores before that are naturally aligned.
//
// Syndromes (ESR_EL1; "ISS encoding for an exception from a Data/Instruction Abort"):
//   Data Abort, same EL (EC 0x25):   0x96000000 | WnR << 6 | DFSC
//   Data Abort, lower EL (EC 0x24):  0x92000000 | WnR << 6 | DFSC
//   Instr Abort, same EL (EC 0x21):  0x86000000 | IFSC
//   Instr Abort, lower EL (EC 0x20): 0x82000000 | IFSC
// (IL = 1; ISV = 0: "ISV is 0 for all faults reported in ESR_EL1 or ESR_EL3"
// (DDI 0487F.a, ESR_EL1 ISS encoding for a Data Abort; QEMU's
// merge_syn_data_abort agrees), so ISS[23:14] are RES0; EA = CM = S1PTW =
// FnV = 0.)
// Fault status codes: 0b0000ll address size, 0b0001ll translation, 0b0010ll
// access flag, 0b0011ll permission fault at level ll; 0b100001 alignment.
//
// Checked against QEMU 7.2 (qemu-system-aarch64 -M virt -cpu cortex-a57):
// * QEMU 7.2 does not raise alignment faults for unaligned accesses to
//   Device memory (it only checks alignment when SCTLR_EL1.A is set or the
//   instruction requires it; the memory-type alignment check came upstream
//   after 7.2, with the 2023 patch "target/arm: Do memory type alignment
//   check when translation enabled"). alignment_device prints
//   "SKIP alignment_device (...)" when no exception is taken at all, and
//   PASS/FAIL only when the fault is taken.
// * QEMU splits a 64-bit load from the PL011 (an APB device with 32-bit
//   registers) into two 32-bit register reads, little-endian, as an AXI-to-APB
//   bridge does; mmio_sizes asserts that (e.g. LDR X at UARTPeriphID0 =
//   PeriphID1 << 32 | PeriphID0).
// * QEMU's TLB is not ASID-tagged: it is flushed whenever the ASID in
//   TTBR0_EL1 changes, TLBI ASIDE1 flushes everything and TLBI VAE1 ignores
//   the ASID. So asid_switch and tlbi_aside1 pass on QEMU whatever the TLB
//   maintenance; they only test a simulator whose TLB really keeps
//   ASID-tagged entries. (tlbi_va and tlbi_vaae1 do fail on QEMU without
//   their TLBI: it keeps stale entries within one ASID.)

    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTIBRD,   0x24
    .equ UARTFBRD,   0x28
    .equ UARTFR_TXFF_BIT, 5

    .equ PSCI_SYSTEM_OFF, 0x84000008

    .equ RAM_BASE,   0x40000000
    .equ MAGIC,      0x0123456789abcdef

    // SCTLR_EL1 bits
    .equ SCTLR_M,    (1 << 0)           // stage-1 MMU enable
    .equ SCTLR_A,    (1 << 1)           // alignment check
    .equ SCTLR_C,    (1 << 2)           // data cacheability
    .equ SCTLR_I,    (1 << 12)          // instruction cacheability
    .equ SCTLR_WXN,  (1 << 19)          // write permission implies XN
    .equ SCTLR_E0E,  (1 << 24)
    .equ SCTLR_EE,   (1 << 25)

    // MAIR_EL1: Attr0 = 0x00 Device-nGnRnE, Attr1 = 0xFF Normal
    // Inner/Outer Write-Back Non-transient Read/Write-Allocate.
    .equ MAIR_VALUE, 0xff00
    .equ ATTR_DEVICE_BYTE, 0x00
    .equ ATTR_NORMAL_BYTE, 0xff

    // TCR_EL1. T0SZ = T1SZ = 25 (39-bit VAs: with the 4 KB granule the walk
    // starts at level 1; T0SZ = 16, 48 bits, starts at level 0),
    // walks Inner/Outer WBWA Inner Shareable (IRGNn = ORGNn = 0b01,
    // SHn = 0b11), TG0 = 0b00 (4 KB), TG1 = 0b10 (4 KB), IPS = 0b010
    // (40 bits), A1 = 0 (ASID from TTBR0), AS = 0 (8-bit ASIDs), TBI0/1 = 0.
    .equ TCR_T0SZ_39,  25
    .equ TCR_T0SZ_48,  16
    .equ TCR_TTBR0,    (1 << 8) | (1 << 10) | (3 << 12)            // IRGN0 ORGN0 SH0 TG0
    .equ TCR_TTBR1,    (25 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30)  // T1SZ ... TG1
    .equ TCR_COMMON,   TCR_TTBR0 | TCR_TTBR1
    .equ TCR_IPS_32,   (0 << 32)
    .equ TCR_IPS_40,   (2 << 32)
    .equ TCR_DEFAULT,  TCR_COMMON | TCR_T0SZ_39 | TCR_IPS_40    // 0x2B5193519
    .equ TCR_VA48,     TCR_COMMON | TCR_T0SZ_48 | TCR_IPS_40    // 0x2B5193510
    .equ TCR_PA32,     TCR_COMMON | TCR_T0SZ_39 | TCR_IPS_32    // 0x0B5193519

    // Stage-1 VMSAv8-64 descriptors ("VMSAv8-64 translation table format
    // descriptors", "Memory attribute fields in the VMSAv8-64 translation
    // table format descriptors")
    .equ D_BLOCK,    0b01               // level 1/2 block
    .equ D_TABLE,    0b11               // level 0-2 table
    .equ D_PAGE,     0b11               // level 3 page
    .equ D_ATTR_DEV, (0 << 2)           // AttrIndx = 0 (MAIR Attr0)
    .equ D_ATTR_NORM,(1 << 2)           // AttrIndx = 1 (MAIR Attr1)
    .equ D_AP_RW_EL1,(0 << 6)           // AP[2:1] = 00: EL1 RW, EL0 none
    .equ D_AP_RW_ALL,(1 << 6)           //           01: EL1 RW, EL0 RW
    .equ D_AP_RO_EL1,(2 << 6)           //           10: EL1 RO, EL0 none
    .equ D_AP_RO_ALL,(3 << 6)           //           11: EL1 RO, EL0 RO
    .equ D_SH_INNER, (3 << 8)
    .equ D_AF,       (1 << 10)
    .equ D_NG,       (1 << 11)
    .equ D_PXN,      (1 << 53)
    .equ D_UXN,      (1 << 54)
    .equ D_XN,       D_PXN | D_UXN
    .equ D_NORMAL,   D_ATTR_NORM | D_SH_INNER | D_AF
    .equ D_DEVICE,   D_ATTR_DEV | D_AF

    .equ BLK_RW,        D_BLOCK | D_NORMAL | D_AP_RW_EL1 | D_XN
    .equ BLK_RW_NOAF,   D_BLOCK | D_ATTR_NORM | D_SH_INNER | D_AP_RW_EL1 | D_XN
    .equ BLK_RWX,       D_BLOCK | D_NORMAL | D_AP_RW_EL1 | D_UXN      // EL1-executable
    .equ BLK_DEVICE,    D_BLOCK | D_DEVICE | D_AP_RW_EL1 | D_XN
    .equ PG_RW,         D_PAGE | D_NORMAL | D_AP_RW_EL1 | D_XN
    .equ PG_RW_NOAF,    D_PAGE | D_ATTR_NORM | D_SH_INNER | D_AP_RW_EL1 | D_XN
    .equ PG_RO,         D_PAGE | D_NORMAL | D_AP_RO_EL1 | D_XN
    .equ PG_KTEXT,      D_PAGE | D_NORMAL | D_AP_RO_EL1 | D_UXN      // kernel text: RO, EL1-exec
    .equ PG_UTEXT,      D_PAGE | D_NORMAL | D_AP_RO_ALL | D_PXN      // user text: RO, EL0-exec
    .equ PG_DEVICE,     D_PAGE | D_DEVICE | D_AP_RW_EL1 | D_XN
    .equ PG_X_UXN,      D_PAGE | D_NORMAL | D_AP_RO_ALL | D_XN       // EL0-readable, UXN
    .equ PG_X_PXN,      D_PAGE | D_NORMAL | D_AP_RO_EL1 | D_XN       // PXN (not writable)
    .equ PG_X_USERW,    D_PAGE | D_NORMAL | D_AP_RW_ALL | D_UXN      // EL0-writable, PXN = 0
    .equ PG_X_WRITABLE, D_PAGE | D_NORMAL | D_AP_RW_EL1 | D_UXN      // EL1-writable, PXN = 0

    // Test virtual addresses (TTBR0, 39-bit; L1 index = VA[38:30])
    .equ VA_L1_ALIAS,   0x80000000      // L1[2]: 1 GiB block -> PA 0x40000000
    .equ VA_L2_ALIAS,   0xC0000000      // L1[3] -> l2_test; [0]: 2 MiB block -> PA 0x40000000
    .equ VA_L3_WIN,     0xC0200000      // l2_test[1] -> l3_test (4 KiB pages, below)
    .equ VA_L2_INVALID, 0xC0400000      // l2_test[2]: invalid
    .equ VA_L2_NOAF,    0xC0600000      // l2_test[3]: 2 MiB block, AF = 0
    .equ VA_L2_BIGOA,   0xC0800000      // l2_test[4]: 2 MiB block -> PA 0x1_0000_0000
    .equ VA_L1_INVALID, 0x100000000     // L1[4]: invalid
    .equ VA_L1_NOAF,    0x140000000     // L1[5]: 1 GiB block, AF = 0
    .equ VA_ASID,       0x180000000     // L1[6]: only in the two ASID tables
    .equ VA_L0_INVALID, 0x8000000000    // 48-bit VA: L0[1] invalid; 39-bit VA: out of range
    .equ VA_HOLE_HIGH,  0xFFFFFF7FFFFFF000  // between the TTBR0 and TTBR1 ranges
    .equ BIG_PA,        0x100000000     // beyond a 32-bit IPS

    // l3_test page indices: VA = VA_L3_WIN + index * 4 KiB
    .equ PGI_ALIAS,   0                 // -> data_page, RW
    .equ PGI_INVALID, 1                 // invalid descriptor
    .equ PGI_NOAF,    2                 // -> data_page, AF = 0
    .equ PGI_RO,      3                 // -> data_page, AP = 10 (EL1 RO)
    .equ PGI_KONLY,   4                 // -> data_page, AP = 00 (no EL0 access)
    .equ PGI_UXN,     5                 // -> probe_page, EL0-readable, UXN
    .equ PGI_PXN,     6                 // -> probe_page, PXN
    .equ PGI_USERW,   7                 // -> probe_page, AP = 01, PXN = 0
    .equ PGI_WRITABLE,8                 // -> probe_page, AP = 00, PXN = 0
    .equ PGI_TLBI,    9                 // -> tlbi_page_a / tlbi_page_b
    .equ PGI_BIGOA,   10                // -> PA 0x1_0000_0000
    .equ PGI_DEVICE,  11                // -> data_page as Device-nGnRnE

    .equ PROBE_VALUE, 0x1234            // what probe_fn returns

    // SPSR values
    .equ SPSR_EL0t,  0x3c0              // EL0t with D, A, I, F masked
    .equ SPSR_EL1h,  0x3c5              // EL1h with D, A, I, F masked

    // Vector offsets (VBAR_EL1 + ...)
    .equ VEC_CUR_SPX_SYNC,  0x200
    .equ VEC_LOWER64_SYNC,  0x400

    .equ ESR_IL,     (1 << 25)
    .equ ESR_DABT_CUR, (0x25 << 26) | ESR_IL    // 0x96000000
    .equ ESR_DABT_LOW, (0x24 << 26) | ESR_IL    // 0x92000000
    .equ ESR_IABT_CUR, (0x21 << 26) | ESR_IL    // 0x86000000
    .equ ESR_IABT_LOW, (0x20 << 26) | ESR_IL    // 0x82000000
    .equ ESR_WNR,    (1 << 6)
    .equ ESR_BACK_TO_KERNEL, (0x15 << 26) | ESR_IL | 0xfff   // SVC #0xfff from EL0

    .equ FSC_ADDR_SIZE, 0x00            // + level
    .equ FSC_TRANS,     0x04
    .equ FSC_ACCESS,    0x08
    .equ FSC_PERM,      0x0c
    .equ FSC_ALIGN,     0x21

    // PAR_EL1. F = 0: ATTR[63:56], PA[47:12], bit 11 RES1,
    // bit 10 IMPLEMENTATION DEFINED, NS[9], SH[8:7]. F = 1: IMP DEF [63:56],
    // bit 11 RES1, S[9], PTW[8], FST[6:1]. The checks compare PAR & mask,
    // dropping the IMPLEMENTATION DEFINED, NS and SH bits.
    .equ PAR_OK_MASK,    0xfffffffffffff87f
    .equ PAR_FAULT_MASK, 0x00ffffffffffffff
    .equ PAR_RES1,       (1 << 11)

    // The exception record (rec, in .bss). x28 holds its address in all
    // kernel code.
    .equ REC_COUNT,       0             // synchronous exceptions taken since armed
    .equ REC_VEC,         8             // vector offset of the last one
    .equ REC_ESR,        16
    .equ REC_ELR,        24
    .equ REC_SPSR,       32
    .equ REC_FAR,        40
    .equ REC_MODE,       48             // what the handler does (MODE_*)
    .equ REC_RESUME_PC,  56             // MODE_AT / back to kernel: new ELR_EL1
    .equ REC_RESUME_SPSR, 64            //                          new SPSR_EL1
    .equ REC_NAME,       72             // current check's name
    .equ REC_FAILED,     80             // current check has failed
    .equ REC_SCTLR,      88             // SCTLR_EL1 with the MMU on (restored after each check)
    .equ REC_SIZE,      128

    .equ MODE_NONE,   0                 // no exception expected
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

// la reg, symbol: reg = address of symbol (ADRP + ADD, +-4 GiB).
.macro la reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, #:lo12:\sym
.endm

// high_base reg: reg = 0xFFFFFF8000000000, the TTBR1 VA that maps PA 0
// (l1_hi[1] maps VA 0xFFFFFF8040000000 to PA 0x40000000: high VA = PA + this).
.macro high_base reg
    movn    \reg, #0
    lsl     \reg, \reg, #39
.endm

// call_high fn: BLR to fn's alias in the TTBR1 region (clobbers x16, x17).
.macro call_high fn
    adr     x16, \fn
    high_base x17
    add     x16, x16, x17
    blr     x16
.endm

// cstring reg, "text": reg = address of a NUL-terminated copy of text in .rodata.
.macro cstring reg, text
    .pushsection .rodata
.Lstr\@:
    .asciz  "\text"
    .popsection
    adr     \reg, .Lstr\@
.endm

// begin_check name / end_check: one output line per check. end_check first
// puts the MMU back into its default state (restore_mmu).
.macro begin_check name
    cstring x0, "\name"
    bl      check_begin
.endm

.macro end_check
    bl      restore_mmu
    bl      check_end
.endm

// arm mode: expect exactly one synchronous exception, handled as `mode` says
// (MODE_NONE: none at all).
.macro arm mode
    str     xzr, [x28, #REC_COUNT]
    mov     x0, #-1                 // "nothing recorded" in the other fields
    str     x0, [x28, #REC_VEC]
    str     x0, [x28, #REC_ESR]
    str     x0, [x28, #REC_ELR]
    str     x0, [x28, #REC_FAR]
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

// run_el0 routine: ERET to `routine` at EL0t (D, A, I, F masked). The routine
// ends with SVC #0xfff, which the lower-EL handler turns into an ERET to the
// instruction after this macro, at EL1h; so does an exception taken in
// MODE_AT. x1-x27 pass through both ways unchanged.
.macro run_el0 routine
    adr     x0, \routine
    run_el0_at x0
.endm

// run_el0_at reg: the same, to the address in reg (not x0 unless it is x0).
.macro run_el0_at reg
    msr     elr_el1, \reg
    set_resume .Lback\@, SPSR_EL1h
    mov64   x0, SPSR_EL0t
    msr     spsr_el1, x0
    eret
.Lback\@:
.endm

// call_faulting reg: BLR reg at EL1, expecting an instruction abort; the
// handler (MODE_AT) resumes after this macro.
.macro call_faulting reg
    set_resume .Lret\@, SPSR_EL1h
    arm     MODE_AT
    blr     \reg
.Lret\@:
.endm

// expect "FIELD", actual_reg, expected_reg (neither x0-x9)
.macro expect name, actual, expected
    mov     x0, \actual
    mov     x1, \expected
    cstring x2, "\name"
    bl      check_eq
.endm

// expect_const "FIELD", actual_reg, constant (actual_reg not x1-x9)
.macro expect_const name, actual, val
    mov     x0, \actual
    mov64   x1, \val
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

// expect_rec_at offset, "FIELD", label: the recorded field equals the label.
.macro expect_rec_at off, name, label
    ldr     x0, [x28, #\off]
    adr     x1, \label
    cstring x2, "\name"
    bl      check_eq
.endm

// expect_rec_reg offset, "FIELD", reg: the recorded field equals reg (not x0-x9).
.macro expect_rec_reg off, name, reg
    ldr     x0, [x28, #\off]
    mov     x1, \reg
    cstring x2, "\name"
    bl      check_eq
.endm

// expect_dabt tag, insn_label, va_reg, esr, vec: exactly one exception, at
// VBAR_EL1 + vec, syndrome esr, ELR_EL1 = the access, FAR_EL1 = va_reg.
.macro expect_dabt tag, insn, va, esr, vec=VEC_CUR_SPX_SYNC
    expect_rec REC_COUNT, "\tag exceptions", 1
    expect_rec REC_VEC, "\tag vector", \vec
    expect_rec REC_ESR, "\tag ESR", \esr
    expect_rec_at REC_ELR, "\tag ELR", \insn
    expect_rec_reg REC_FAR, "\tag FAR", \va
.endm

// expect_iabt va_reg, esr, vec: exactly one instruction abort on the fetch
// from va_reg: ELR_EL1 = FAR_EL1 = va_reg.
.macro expect_iabt va, esr, vec
    expect_rec REC_COUNT, "exceptions", 1
    expect_rec REC_VEC, "vector", \vec
    expect_rec REC_ESR, "ESR", \esr
    expect_rec_reg REC_ELR, "ELR", \va
    expect_rec_reg REC_FAR, "FAR", \va
.endm

// fault_ld va_reg, dfsc: LDR X2, [va_reg] at EL1 takes a Data Abort with
// DFSC dfsc and WnR = 0; the handler skips the load.
.macro fault_ld va, fsc
    arm     MODE_SKIP
.Lld\@:
    ldr     x2, [\va]
    expect_dabt "ld", .Lld\@, \va, ESR_DABT_CUR | (\fsc)
.endm

// fault_st va_reg, dfsc: STR X2, [va_reg] at EL1 takes a Data Abort with
// DFSC dfsc and WnR = 1; the handler skips the store.
.macro fault_st va, fsc
    arm     MODE_SKIP
.Lst\@:
    str     x2, [\va]
    expect_dabt "st", .Lst\@, \va, ESR_DABT_CUR | ESR_WNR | (\fsc)
.endm

// va_l3 reg, index[, offset]: reg = VA of l3_test page `index` + offset.
.macro va_l3 reg, index, off=0
    mov64   \reg, (VA_L3_WIN + (\index) * 4096 + (\off))
.endm

// set_desc table, index, pa_reg, attrs: table[index] = pa_reg | attrs.
// Clobbers x0, x1.
.macro set_desc table, index, pa, attrs
    la      x0, \table
    mov64   x1, \attrs
    orr     x1, x1, \pa
    str     x1, [x0, #((\index) * 8)]
.endm

// at_par op, va_reg: x0 = PAR_EL1 after AT <op>, va_reg; the ISB makes the
// PAR_EL1 write visible to the MRS.
.macro at_par op, va
    at      \op, \va
    isb
    mrs     x0, par_el1
.endm

// ---------------------------------------------------------------------------
// The kernel

    .section .text.boot, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    // Zero .bss (page tables, data pages, record, stacks) with aligned
    // 16-byte stores: the MMU is off, so this is Device memory.
    la      x0, bss_start
    la      x1, bss_end
1:  stp     xzr, xzr, [x0], #16
    cmp     x0, x1
    b.lo    1b
    la      x0, stack_top           // SP_EL1 (we run in EL1h)
    mov     sp, x0
    la      x0, el0_stack_top       // SP_EL0
    msr     sp_el0, x0
    adr     x0, vectors             // VBAR_EL1[10:0] are RES0
    msr     vbar_el1, x0
    isb
    la      x28, rec

    // -----------------------------------------------------------------------
    // 1. mmu_on_identity: MAIR_EL1, TCR_EL1 (39-bit VA, 4 KB granule, 40-bit
    //    IPS), TTBR0_EL1 = identity map (RAM as Normal WB, kernel text RO and
    //    EL1-executable, data RW and XN; the PL011's 2 MiB as Device-nGnRnE),
    //    TTBR1_EL1 = a high alias of RAM; TLBI VMALLE1; then SCTLR_EL1.M, C
    //    and I (TLB contents are UNKNOWN after reset and must be invalidated
    //    before the MMU is enabled; the ISB after the SCTLR write makes it
    //    take effect). The kernel keeps running at the same VA, reads an
    //    initialised variable and writes this line through the mapped UART.
    //    AT S1E1R on the two kinds of memory returns their MAIR attribute
    //    bytes in PAR_EL1.ATTR.
    begin_check mmu_on_identity
    bl      build_tables
    mov64   x0, MAIR_VALUE
    msr     mair_el1, x0
    mov64   x0, TCR_DEFAULT
    msr     tcr_el1, x0
    la      x0, l1_id
    msr     ttbr0_el1, x0
    la      x0, l1_hi
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    mrs     x0, sctlr_el1
    mov64   x1, SCTLR_M | SCTLR_C | SCTLR_I
    orr     x0, x0, x1
    mov64   x1, SCTLR_A | SCTLR_WXN | SCTLR_EE | SCTLR_E0E
    bic     x0, x0, x1
    msr     sctlr_el1, x0
    isb
    // MMU on from here.
    str     x0, [x28, #REC_SCTLR]
    mrs     x19, sctlr_el1
    mov64   x0, SCTLR_M | SCTLR_C | SCTLR_I | SCTLR_A
    and     x19, x19, x0
    expect_const "SCTLR.{M,A,C,I}", x19, SCTLR_M | SCTLR_C | SCTLR_I
    adr     x19, magic
    ldr     x19, [x19]
    expect_const "magic", x19, MAGIC
    adr     x19, magic
    at_par  s1e1r, x19
    mov64   x1, PAR_OK_MASK
    and     x20, x0, x1
    and     x19, x19, #~0xfff
    mov64   x1, (ATTR_NORMAL_BYTE << 56) | PAR_RES1
    orr     x19, x19, x1
    expect  "PAR(magic)", x20, x19
    mov64   x19, UART_BASE
    at_par  s1e1r, x19
    mov64   x1, PAR_OK_MASK
    and     x20, x0, x1
    expect_const "PAR(UART)", x20, (ATTR_DEVICE_BYTE << 56) | UART_BASE | PAR_RES1
    end_check

    // -----------------------------------------------------------------------
    // 2. ttbr1_high_map: VAs whose bits [63:39] are all ones are translated
    //    from TTBR1_EL1 ("Selection between TTBR0 and TTBR1", T1SZ = 25).
    //    l1_hi[1] is a 1 GiB block that maps VA 0xFFFFFF8040000000 to PA
    //    0x40000000 and is executable at EL1.
    //    BLR to the high alias of high_probe: ADR there yields high VAs, a
    //    load through one reads the image's variable, and a store through the
    //    high alias is seen through the identity map.
    begin_check ttbr1_high_map
    arm     MODE_NONE
    high_base x19
    adr     x20, high_probe
    add     x20, x20, x19           // x20 = high VA of high_probe
    blr     x20                     // -> x21 = PC-relative address, x22 = magic
    expect  "high PC", x21, x20
    expect_const "high magic", x22, MAGIC
    la      x23, scratch
    add     x24, x23, x19           // high alias of scratch
    mov64   x25, 0x5a5aa5a5c3c33c3c
    str     x25, [x24]
    ldr     x26, [x23]
    expect  "low after high store", x26, x25
    end_check

    // -----------------------------------------------------------------------
    // 3. block_l1, block_l2, page_l3: the same physical bytes through the
    //    identity map (4 KiB pages of l3_img) and through a 1 GiB level-1
    //    block, a 2 MiB level-2 block and a 4 KiB level-3 page (descriptor
    //    block output address bits [47:30] / [47:21], page [47:12]; the
    //    lower VA bits are the offset). Write through one alias, read
    //    through the other, both ways.
    la      x19, data_page
    add     x19, x19, #0x128        // identity VA = PA of the test word

    begin_check block_l1
    mov64   x0, VA_L1_ALIAS - RAM_BASE
    add     x20, x19, x0
    bl      alias_rw
    end_check

    begin_check block_l2
    mov64   x0, VA_L2_ALIAS - RAM_BASE
    add     x20, x19, x0
    bl      alias_rw
    end_check

    begin_check page_l3
    va_l3   x20, PGI_ALIAS, 0x128
    bl      alias_rw
    end_check

    // -----------------------------------------------------------------------
    // 4. Translation faults ("MMU faults", Translation fault: an
    //    invalid descriptor at level n gives DFSC 0b0001nn; FAR_EL1 = the VA;
    //    ELR_EL1 = the load/store; WnR = 1 for the store).
    begin_check translation_fault_l1
    mov64   x19, VA_L1_INVALID + 0x10
    fault_ld x19, FSC_TRANS + 1     // 0x96000005
    fault_st x19, FSC_TRANS + 1     // 0x96000045
    end_check

    begin_check translation_fault_l2
    mov64   x19, VA_L2_INVALID + 0x20
    fault_ld x19, FSC_TRANS + 2     // 0x96000006
    fault_st x19, FSC_TRANS + 2     // 0x96000046
    end_check

    begin_check translation_fault_l3
    va_l3   x19, PGI_INVALID, 0x30
    fault_ld x19, FSC_TRANS + 3     // 0x96000007
    fault_st x19, FSC_TRANS + 3     // 0x96000047
    end_check

    // translation_fault_l0: with T0SZ = 16 (48-bit VAs) the walk starts at
    // level 0. l0_48[0] points at the same level-1 table, so the identity
    // map is unchanged; l0_48[1] (VA 0x80_0000_0000) is invalid: DFSC
    // 0b000100. TTBR0 and TCR are switched from the TTBR1 alias of the code
    // (switch_ttbr0_tcr), so no TTBR0 walk can mix old and new values.
    begin_check translation_fault_l0
    la      x0, l0_48
    mov64   x1, TCR_VA48
    call_high switch_ttbr0_tcr
    arm     MODE_NONE
    adr     x19, magic
    ldr     x19, [x19]
    expect_const "magic (48-bit VA)", x19, MAGIC
    mov64   x19, VA_L0_INVALID + 0x40
    fault_ld x19, FSC_TRANS + 0     // 0x96000004
    fault_st x19, FSC_TRANS + 0     // 0x96000044
    end_check

    // translation_fault_range: with 39-bit VAs, a VA whose bits [63:39] are
    // neither all zeros (TTBR0) nor all ones (TTBR1) is a level 0
    // Translation fault (AArch64.TranslationTableWalk reports a VA outside
    // both ranges as a Translation fault at level 0).
    begin_check translation_fault_range
    mrs     x19, tcr_el1            // restore_mmu is back to 39-bit VAs (a
    expect_const "TCR_EL1", x19, TCR_DEFAULT  // 48-bit walk also faults at L0)
    mov64   x19, VA_L0_INVALID + 0x40
    fault_ld x19, FSC_TRANS + 0     // 0x96000004
    fault_st x19, FSC_TRANS + 0     // 0x96000044
    mov64   x19, VA_HOLE_HIGH + 0x48
    fault_ld x19, FSC_TRANS + 0     // 0x96000004
    end_check

    // -----------------------------------------------------------------------
    // 5. Access flag faults ("The Access flag": with TCR_EL1.HA = 0
    //    (always in ARMv8.0), a block/page descriptor with AF = 0 generates
    //    an Access flag fault, DFSC 0b0010nn, on any access).
    begin_check access_flag_l1
    mov64   x19, VA_L1_NOAF + 0x40
    fault_ld x19, FSC_ACCESS + 1    // 0x96000009
    fault_st x19, FSC_ACCESS + 1    // 0x96000049
    end_check

    begin_check access_flag_l2
    mov64   x19, VA_L2_NOAF + 0x40
    fault_ld x19, FSC_ACCESS + 2    // 0x9600000A
    fault_st x19, FSC_ACCESS + 2    // 0x9600004A
    end_check

    begin_check access_flag_l3
    va_l3   x19, PGI_NOAF, 0x40
    fault_ld x19, FSC_ACCESS + 3    // 0x9600000B
    fault_st x19, FSC_ACCESS + 3    // 0x9600004B
    end_check

    // -----------------------------------------------------------------------
    // 6. permission_el1_write_ro: AP[2:1] = 0b10 is read-only at EL1 and no
    //    access at EL0 ("Data access permissions for stage 1"). The load
    //    works and sees the data; the store is a Permission fault, DFSC
    //    0b001111 (level 3), WnR = 1, and memory is unchanged.
    begin_check permission_el1_write_ro
    la      x20, data_page
    mov64   x21, 0x600d600d600d600d
    str     x21, [x20, #0x40]
    va_l3   x19, PGI_RO, 0x40
    arm     MODE_NONE
    ldr     x22, [x19]
    expect  "RO load", x22, x21
    mov     x2, #0xbad
    fault_st x19, FSC_PERM + 3      // 0x9600004F
    ldr     x22, [x20, #0x40]
    expect  "data after store", x22, x21
    end_check

    // -----------------------------------------------------------------------
    // 7. Permissions seen from EL0 and instruction fetch permissions.
    //
    // permission_el0_data: EL0 code (the user page: AP = 11, UXN = 0) loads
    // from its own page (allowed), then from a page with AP = 00 (EL1 only):
    // a Data Abort from a lower EL, EC 0x24, DFSC permission level 3,
    // taken at VBAR_EL1 + 0x400.
    begin_check permission_el0_data
    arm     MODE_NONE
    adr     x1, user_page
    mov     x2, xzr
    run_el0 el0_load
    adr     x19, user_page
    ldr     x20, [x19]              // its first two instructions, as EL1 reads them
    expect  "EL0 load", x2, x20
    va_l3   x19, PGI_KONLY, 0x50
    mov     x1, x19
    arm     MODE_AT
    run_el0 el0_load
    // ESR 0x9200000F
    expect_dabt "EL0", el0_load_insn, x19, ESR_DABT_LOW | (FSC_PERM + 3), VEC_LOWER64_SYNC
    end_check

    // permission_uxn: EL0 branches (ERET) to a page that is EL0-readable
    // but UXN = 1: Instruction Abort from a lower EL, EC 0x20, IFSC
    // permission level 3; ELR_EL1 = FAR_EL1 = the target.
    begin_check permission_uxn
    va_l3   x19, PGI_UXN
    arm     MODE_AT
    run_el0_at x19
    expect_iabt x19, ESR_IABT_LOW | (FSC_PERM + 3), VEC_LOWER64_SYNC        // 0x8200000F
    end_check

    // permission_pxn: EL1 BLR to a page with PXN = 1: Instruction Abort
    // from the current EL, EC 0x21, IFSC permission level 3.
    begin_check permission_pxn
    va_l3   x19, PGI_PXN
    call_faulting x19
    expect_iabt x19, ESR_IABT_CUR | (FSC_PERM + 3), VEC_CUR_SPX_SYNC        // 0x8600000F
    end_check

    // permission_user_writable_pxn: a page writable at EL0 (AP = 01) is
    // never executable at EL1, whatever PXN says ("Access permissions for
    // instruction execution": a region writable at EL0 is treated as
    // privileged execute-never, in AArch64.CheckPermission as in QEMU's
    // get_S1prot).
    begin_check permission_user_writable_pxn
    va_l3   x19, PGI_USERW
    call_faulting x19
    expect_iabt x19, ESR_IABT_CUR | (FSC_PERM + 3), VEC_CUR_SPX_SYNC        // 0x8600000F
    end_check

    // permission_wxn: a page writable at EL1 (AP = 00, PXN = 0) executes at
    // EL1 while SCTLR_EL1.WXN = 0; with WXN = 1 every writable region is XN
    // (same section and pseudocode). WXN is permitted to be cached in a TLB, so TLBI VMALLE1
    // after changing it. The kernel keeps running: its text is read-only.
    begin_check permission_wxn
    va_l3   x19, PGI_WRITABLE
    arm     MODE_NONE
    mov     x0, xzr
    blr     x19
    mov     x20, x0
    expect_const "probe result", x20, PROBE_VALUE
    ldr     x0, [x28, #REC_SCTLR]
    orr     x0, x0, #SCTLR_WXN
    msr     sctlr_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    call_faulting x19
    expect_iabt x19, ESR_IABT_CUR | (FSC_PERM + 3), VEC_CUR_SPX_SYNC        // 0x8600000F
    end_check

    // -----------------------------------------------------------------------
    // 8. Address size faults ("MMU faults"): with TCR_EL1.IPS = 0b000 (32 bits), a
    //    block or page descriptor whose output address has bits above bit 31
    //    set gives an Address size fault at its level (DFSC 0b0000nn); a
    //    TTBRn_EL1 whose BADDR has such bits gives one at level 0
    //    (AArch64.TranslationTableWalk checks the TTBR base address against
    //    the output size before the first lookup and reports level 0).
    //    Nothing else here has a PA >= 4 GiB.
    begin_check address_size_fault_l2
    la      x0, l1_id
    mov64   x1, TCR_PA32
    call_high switch_ttbr0_tcr
    mov64   x19, VA_L2_BIGOA + 0x40
    fault_ld x19, FSC_ADDR_SIZE + 2 // 0x96000002
    fault_st x19, FSC_ADDR_SIZE + 2 // 0x96000042
    end_check

    begin_check address_size_fault_l3
    la      x0, l1_id
    mov64   x1, TCR_PA32
    call_high switch_ttbr0_tcr
    va_l3   x19, PGI_BIGOA, 0x40
    fault_ld x19, FSC_ADDR_SIZE + 3 // 0x96000003
    fault_st x19, FSC_ADDR_SIZE + 3 // 0x96000043
    end_check

    // address_size_fault_ttbr: the code runs from TTBR0 here, so TTBR1 can
    // be pointed at PA 0x1_xxxx_xxxx (l1_hi + 4 GiB) and a high VA accessed.
    begin_check address_size_fault_ttbr
    la      x0, l1_id
    mov64   x1, TCR_PA32
    call_high switch_ttbr0_tcr
    la      x0, l1_hi
    mov64   x1, BIG_PA
    orr     x0, x0, x1
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    la      x19, scratch
    high_base x0
    add     x19, x19, x0
    fault_ld x19, FSC_ADDR_SIZE + 0 // 0x96000000
    end_check

    // -----------------------------------------------------------------------
    // 9. Alignment ("Alignment support", "Alignment of data accesses";
    //    AArch64.CheckAlignment / the Device memory type check):
    //
    // alignment_device: an unaligned access to any Device memory type
    // generates an Alignment fault (DFSC 0b100001) whatever SCTLR_EL1.A
    // says. PGI_DEVICE maps data_page as Device-nGnRnE. QEMU 7.2 does not
    // implement this check (see the header): SKIP when nothing is taken.
    begin_check alignment_device
    la      x20, data_page
    mov64   x21, 0x8877665544332211
    str     x21, [x20, #0x40]
    va_l3   x19, PGI_DEVICE, 0x40
    arm     MODE_NONE
    ldr     x22, [x19]              // aligned Device load: fine
    expect  "aligned Device load", x22, x21
    add     x19, x19, #1
    arm     MODE_SKIP
alignment_device_insn:
    ldr     w2, [x19]
    ldr     x0, [x28, #REC_COUNT]
    cbnz    x0, 1f
    bl      restore_mmu
    cstring x0, "SKIP alignment_device (no alignment fault on an unaligned Device load: QEMU 7.2)\n"
    bl      puts
    b       2f
1:  expect_dabt "ld", alignment_device_insn, x19, ESR_DABT_CUR | FSC_ALIGN       // 0x96000021
    end_check
2:

    // alignment_sctlr_a: with SCTLR_EL1.A = 1 an unaligned load or store to
    // Normal memory is an Alignment fault; an aligned one is fine.
    begin_check alignment_sctlr_a
    ldr     x0, [x28, #REC_SCTLR]
    orr     x0, x0, #SCTLR_A
    msr     sctlr_el1, x0
    isb
    la      x19, data_page
    add     x19, x19, #0x44         // 4- but not 8-aligned
    arm     MODE_NONE
    ldr     w20, [x19]              // aligned 32-bit load: fine
    fault_ld x19, FSC_ALIGN         // 0x96000021
    fault_st x19, FSC_ALIGN         // 0x96000061
    end_check

    // -----------------------------------------------------------------------
    // 10. Address translation instructions (AT S1E1R/S1E1W/S1E0R, results in
    //     PAR_EL1; AArch64.AT_S1Ex).
    //
    // at_par_success: AT S1E1R of a level-3 page alias, a level-1 block
    // alias and the Device UART: F = 0, PA[47:12] of the output, ATTR = the
    // MAIR byte; AT S1E0R of the user page (AP = 11) succeeds too.
    begin_check at_par_success
    arm     MODE_NONE
    la      x20, data_page
    mov64   x0, (ATTR_NORMAL_BYTE << 56) | PAR_RES1
    orr     x20, x20, x0            // expected PAR for data_page
    mov64   x21, PAR_OK_MASK
    va_l3   x19, PGI_ALIAS, 0x123
    at_par  s1e1r, x19
    and     x22, x0, x21
    expect  "PAR(S1E1R page)", x22, x20
    la      x19, data_page
    mov64   x0, VA_L1_ALIAS - RAM_BASE + 0x10
    add     x19, x19, x0
    at_par  s1e1w, x19
    and     x22, x0, x21
    expect  "PAR(S1E1W block)", x22, x20
    mov64   x19, UART_BASE + 0xfe0
    at_par  s1e1r, x19
    and     x22, x0, x21
    expect_const "PAR(S1E1R UART)", x22, (ATTR_DEVICE_BYTE << 56) | UART_BASE | PAR_RES1
    adr     x19, user_page
    at_par  s1e0r, x19
    and     x22, x0, x21
    adr     x20, user_page
    mov64   x0, (ATTR_NORMAL_BYTE << 56) | PAR_RES1
    orr     x20, x20, x0
    expect  "PAR(S1E0R user)", x22, x20
    end_check

    // at_par_fault: a faulting AT does not take an exception; PAR_EL1.F = 1
    // and FST = the fault status code: S1E1W of a read-only page and S1E0R
    // of an EL1-only page are permission faults at level 3; S1E1R of an
    // invalid page / AF = 0 page: translation / access flag fault, level 3.
    begin_check at_par_fault
    arm     MODE_NONE
    mov64   x21, PAR_FAULT_MASK
    va_l3   x19, PGI_RO
    at_par  s1e1w, x19
    and     x22, x0, x21
    expect_const "PAR(S1E1W RO)", x22, PAR_RES1 | ((FSC_PERM + 3) << 1) | 1      // 0x81F
    va_l3   x19, PGI_KONLY
    at_par  s1e0r, x19
    and     x22, x0, x21
    expect_const "PAR(S1E0R EL1-only)", x22, PAR_RES1 | ((FSC_PERM + 3) << 1) | 1 // 0x81F
    va_l3   x19, PGI_INVALID
    at_par  s1e1r, x19
    and     x22, x0, x21
    expect_const "PAR(S1E1R invalid)", x22, PAR_RES1 | ((FSC_TRANS + 3) << 1) | 1 // 0x80F
    va_l3   x19, PGI_NOAF
    at_par  s1e1r, x19
    and     x22, x0, x21
    expect_const "PAR(S1E1R AF=0)", x22, PAR_RES1 | ((FSC_ACCESS + 3) << 1) | 1  // 0x817
    end_check

    // -----------------------------------------------------------------------
    // 11. tlbi_va: change a page descriptor to another output page. Without
    //     TLB maintenance either translation may be used (not checked);
    //     after DSB + TLBI VAE1 (VA[55:12] in Xt[43:0]) + DSB + ISB the new
    //     one must be ("TLB maintenance requirements and the TLB
    //     maintenance instructions").
    begin_check tlbi_va
    arm     MODE_NONE
    la      x20, tlbi_page_a
    mov64   x21, 0xaaaa0000aaaa0001
    str     x21, [x20]
    la      x22, tlbi_page_b
    mov64   x23, 0xbbbb0000bbbb0002
    str     x23, [x22]
    va_l3   x19, PGI_TLBI
    ldr     x24, [x19]              // fills the TLB with the old translation
    expect  "before", x24, x21
    set_desc l3_test, PGI_TLBI, x22, PG_RW
    dsb     ishst
    ldr     x24, [x19]              // old or new: not checked
    lsr     x0, x19, #12
    tlbi    vae1, x0
    dsb     ish
    isb
    ldr     x24, [x19]
    expect  "after TLBI VAE1", x24, x23
    set_desc l3_test, PGI_TLBI, x20, PG_RW
    dsb     ishst
    lsr     x0, x19, #12
    tlbi    vae1, x0
    dsb     ish
    isb
    ldr     x24, [x19]
    expect  "restored", x24, x21
    end_check

    // -----------------------------------------------------------------------
    // 12. ASIDs ("Global and process-specific translation table
    //     entries"): with TCR_EL1.A1 = 0 the current ASID is TTBR0_EL1[55:48]
    //     (8-bit ASIDs). l1_asid_a and l1_asid_b share the global identity
    //     map and map VA_ASID with nG = 1 to different pages. Changing
    //     TTBR0_EL1 (BADDR and ASID in one write) + ISB, without TLBI,
    //     must give each ASID its own page.
    begin_check asid_switch
    arm     MODE_NONE
    mov64   x19, VA_ASID + 0x18
    la      x20, asid_page_a
    la      x21, asid_page_b
    la      x22, asid_page_c
    la      x23, asid_page_d
    mov64   x0, 0xa51d00000000000a
    str     x0, [x20, #0x18]
    mov64   x0, 0xa51d00000000000b
    str     x0, [x21, #0x18]
    mov64   x0, 0xa51d00000000000c
    str     x0, [x22, #0x18]
    mov64   x0, 0xa51d00000000000d
    str     x0, [x23, #0x18]
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x25, #2                 // twice A, B
1:  bl      ttbr0_asid_a
    ldr     x24, [x19]
    expect_const "ASID 1", x24, 0xa51d00000000000a
    bl      ttbr0_asid_b
    ldr     x24, [x19]
    expect_const "ASID 2", x24, 0xa51d00000000000b
    subs    x25, x25, #1
    b.ne    1b
    end_check

    // tlbi_aside1: repoint ASID 1's page to page C while ASID 2 is current;
    // TLBI ASIDE1 (ASID in Xt[63:48]) removes ASID 1's entries: back in
    // ASID 1 the new page is seen; ASID 2 still sees its own page.
    begin_check tlbi_aside1
    arm     MODE_NONE
    bl      ttbr0_asid_a
    ldr     x24, [x19]              // cache ASID 1's translation
    bl      ttbr0_asid_b
    ldr     x24, [x19]              // and ASID 2's
    set_desc l3_asid_a, 0, x22, PG_RW | D_NG
    dsb     ishst
    mov64   x0, 1 << 48
    tlbi    aside1, x0
    dsb     ish
    isb
    ldr     x24, [x19]
    expect_const "ASID 2 after", x24, 0xa51d00000000000b
    bl      ttbr0_asid_a
    ldr     x24, [x19]
    expect_const "ASID 1 after", x24, 0xa51d00000000000c
    end_check

    // tlbi_vaae1: repoint both ASIDs' pages (A -> D, B -> A); one
    // TLBI VAAE1 (by VA, all ASIDs) must remove both entries.
    begin_check tlbi_vaae1
    arm     MODE_NONE
    bl      ttbr0_asid_a
    ldr     x24, [x19]
    bl      ttbr0_asid_b
    ldr     x24, [x19]
    set_desc l3_asid_a, 0, x23, PG_RW | D_NG
    set_desc l3_asid_b, 0, x20, PG_RW | D_NG
    dsb     ishst
    lsr     x0, x19, #12
    tlbi    vaae1, x0
    dsb     ish
    isb
    ldr     x24, [x19]
    expect_const "ASID 2 after", x24, 0xa51d00000000000a
    bl      ttbr0_asid_a
    ldr     x24, [x19]
    expect_const "ASID 1 after", x24, 0xa51d00000000000d
    // Put both tables back (the TLBI VMALLE1 is in restore_mmu).
    set_desc l3_asid_a, 0, x20, PG_RW | D_NG
    set_desc l3_asid_b, 0, x21, PG_RW | D_NG
    dsb     ishst
    end_check

    // -----------------------------------------------------------------------
    // 13. self_modifying_code: smc_page is mapped read-only + executable by
    //     the identity map and writable through the level-1 block alias.
    //     Replace "movz x0, #1" with "movz x0, #2" through the alias, then
    //     the sequence of "Concurrent modification and execution of
    //     instructions": DC CVAU (to the Point of Unification), DSB ISH,
    //     IC IVAU, DSB ISH, ISB; the new instruction must run.
    begin_check self_modifying_code
    arm     MODE_NONE
    adr     x19, smc_fn
    blr     x19
    mov     x20, x0
    expect_const "before", x20, 1
    mov64   x0, VA_L1_ALIAS - RAM_BASE
    add     x21, x19, x0            // writable alias of smc_fn
    mov64   x0, 0xd2800040          // movz x0, #2
    bl      patch_smc
    blr     x19
    mov     x20, x0
    expect_const "after", x20, 2
    mov64   x0, 0xd2800020          // movz x0, #1 (put it back)
    bl      patch_smc
    blr     x19
    mov     x20, x0
    expect_const "restored", x20, 1
    end_check

    // -----------------------------------------------------------------------
    // 14. mmio_sizes: loads of every size, zero- and sign-extending, from the
    //     PL011 through a Device-nGnRnE mapping. UARTPeriphID0-3 at 0xFE0 =
    //     0x11, 0x10, 0x14, 0x00; UARTPCellID0-3 at 0xFF0 = 0x0D, 0xF0, 0x05,
    //     0xB1 (PL011 TRM, 3.3). A 64-bit load reads two consecutive 32-bit
    //     registers (QEMU, see the header). UARTIBRD (16 bits) is written with
    //     a halfword store with bit 15 set and read back sign-extended, then
    //     restored.
    begin_check mmio_sizes
    arm     MODE_NONE
    mov64   x19, UART_BASE
    ldrb    w20, [x19, #0xfe0]
    expect_const "LDRB PeriphID0", x20, 0x11
    ldrh    w20, [x19, #0xfe4]
    expect_const "LDRH PeriphID1", x20, 0x10
    ldr     w20, [x19, #0xfe8]
    expect_const "LDR W PeriphID2", x20, 0x14
    ldr     x20, [x19, #0xfe0]
    expect_const "LDR X PeriphID0", x20, 0x0000001000000011
    ldr     x20, [x19, #0xff0]
    expect_const "LDR X PCellID0", x20, 0x000000f00000000d
    ldrsb   x20, [x19, #0xff4]
    expect_const "LDRSB X PCellID1", x20, 0xfffffffffffffff0
    ldrsb   w20, [x19, #0xffc]
    expect_const "LDRSB W PCellID3", x20, 0x00000000ffffffb1
    ldrsh   x20, [x19, #0xff4]
    expect_const "LDRSH X PCellID1", x20, 0xf0
    ldrsw   x20, [x19, #0xffc]
    expect_const "LDRSW PCellID3", x20, 0xb1
    ldr     w21, [x19, #UARTIBRD]   // keep the divisor
    mov     w0, #0x8001
    strh    w0, [x19, #UARTIBRD]
    ldrsh   x20, [x19, #UARTIBRD]
    expect_const "LDRSH X IBRD", x20, 0xffffffffffff8001
    ldrh    w20, [x19, #UARTIBRD]
    expect_const "LDRH IBRD", x20, 0x8001
    ldrsh   w20, [x19, #UARTIBRD]
    expect_const "LDRSH W IBRD", x20, 0x00000000ffff8001
    str     w21, [x19, #UARTIBRD]
    ldr     w20, [x19, #UARTIBRD]
    expect  "IBRD restored", x20, x21
    end_check

    cstring x0, "DONE\n"
    bl      puts
system_off:
    mov64   x0, PSCI_SYSTEM_OFF
    hvc     #0
1:  wfi
    b       1b

// ---------------------------------------------------------------------------
// Check helpers

// alias_rw: x19 = identity VA of a word, x20 = another VA for it. Two
// patterns: written through x19 and read through x20, then the reverse.
alias_rw:
    stp     x29, x30, [sp, #-16]!
    arm     MODE_NONE
    mov64   x21, 0x1111222233334444
    str     x21, [x19]
    ldr     x22, [x20]
    expect  "alias read", x22, x21
    mov64   x21, 0x5555666677778888
    eor     x21, x21, x20           // a different pattern for each alias
    str     x21, [x20]
    ldr     x22, [x19]
    expect  "identity read", x22, x21
    ldp     x29, x30, [sp], #16
    ret

// ttbr0_asid_a / ttbr0_asid_b: TTBR0_EL1 = l1_asid_a with ASID 1 /
// l1_asid_b with ASID 2, ISB, no TLB maintenance. Clobbers x0, x1.
ttbr0_asid_a:
    la      x0, l1_asid_a
    mov64   x1, 1 << 48
    b       1f
ttbr0_asid_b:
    la      x0, l1_asid_b
    mov64   x1, 2 << 48
1:  orr     x0, x0, x1
    msr     ttbr0_el1, x0
    isb
    ret

// patch_smc: w0 = instruction, x21 = writable alias of smc_fn, x19 = its
// executable VA. Store + cache maintenance ("Concurrent modification and
// execution of instructions").
patch_smc:
    str     w0, [x21]
    dc      cvau, x21
    dsb     ish
    ic      ivau, x19
    dsb     ish
    isb
    ret

// high_probe: runs from the TTBR1 alias (ttbr1_high_map). x21 = its own
// address as ADR computes it, x22 = magic loaded PC-relatively.
high_probe:
    adr     x21, high_probe
    adr     x22, magic
    ldr     x22, [x22]
    ret

// switch_ttbr0_tcr: x0 = TTBR0_EL1, x1 = TCR_EL1. Must be called through
// the TTBR1 alias (call_high) when the TTBR0 walk changes shape: nothing
// here is fetched or accessed through TTBR0. Ends with TLBI VMALLE1.
switch_ttbr0_tcr:
    dsb     ishst                   // descriptor writes before the walks
    msr     ttbr0_el1, x0
    msr     tcr_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ret

// restore_mmu: the default state: TTBR1 = l1_hi, SCTLR_EL1 = rec.sctlr
// (M, C, I; no A, no WXN), TTBR0 = l1_id with ASID 0, TCR = TCR_DEFAULT,
// then TLBI VMALLE1 + DSB + ISB. Clobbers x0, x1, x16, x17.
restore_mmu:
    stp     x29, x30, [sp, #-16]!
    la      x0, l1_hi
    msr     ttbr1_el1, x0
    ldr     x0, [x28, #REC_SCTLR]
    msr     sctlr_el1, x0
    isb
    la      x0, l1_id
    mov64   x1, TCR_DEFAULT
    call_high switch_ttbr0_tcr
    ldp     x29, x30, [sp], #16
    ret

// ---------------------------------------------------------------------------
// build_tables: runs with the MMU off (Device memory: aligned 8-byte stores
// only). The tables are in .bss, already zeroed (invalid descriptors).
//
// TTBR0 identity map, l1_id (level 1, VA[38:30]):
//   [0] -> l2_low:  [72] 2 MiB Device block at 0x09000000 (the PL011)
//   [1] -> l2_ram:  [0] -> l3_img (4 KiB pages of 0x40000000-0x401FFFFF:
//                        kernel text RO + EL1-exec, the user page RO +
//                        EL0-exec, everything else RW + XN);
//                   [1..63] 2 MiB Normal RW XN blocks (rest of 128 MiB)
//   [2] 1 GiB block alias of 0x40000000 (VA_L1_ALIAS)
//   [3] -> l2_test (VA 0xC0000000, see VA_* and PGI_*)
//   [4] invalid; [5] 1 GiB block with AF = 0
// TTBR1, l1_hi: [1] 1 GiB block VA 0xFFFFFF8040000000 -> PA 0x40000000, EL1-exec.
// l0_48: the level-0 root for 48-bit VAs: [0] -> l1_id.
// l1_asid_a/b: copies of l1_id plus [6] -> l2_asid_x -> l3_asid_x[0] = nG page.
build_tables:
    // l1_id
    la      x2, l2_low
    set_desc l1_id, 0, x2, D_TABLE
    la      x2, l2_ram
    set_desc l1_id, 1, x2, D_TABLE
    mov64   x2, RAM_BASE
    set_desc l1_id, 2, x2, BLK_RW
    la      x2, l2_test
    set_desc l1_id, 3, x2, D_TABLE
    mov64   x2, RAM_BASE
    set_desc l1_id, 5, x2, BLK_RW_NOAF
    // l2_low: the PL011
    mov64   x2, UART_BASE & ~0x1fffff
    set_desc l2_low, (UART_BASE >> 21), x2, BLK_DEVICE
    // l2_ram
    la      x2, l3_img
    set_desc l2_ram, 0, x2, D_TABLE
    la      x3, l2_ram + 8
    mov64   x2, RAM_BASE + 0x200000
    mov64   x4, BLK_RW
    mov     x5, #63
1:  orr     x1, x2, x4
    str     x1, [x3], #8
    add     x2, x2, #0x200000
    subs    x5, x5, #1
    b.ne    1b
    // l3_img: 512 pages from RAM_BASE
    la      x3, l3_img
    mov64   x2, RAM_BASE
    adr     x5, _start
    adr     x6, ktext_end           // = user_page
    adr     x7, user_page_end
    mov     x8, #512
2:  mov64   x4, PG_RW
    cmp     x2, x5
    b.lo    3f
    mov64   x4, PG_KTEXT
    cmp     x2, x6
    b.lo    3f
    mov64   x4, PG_UTEXT
    cmp     x2, x7
    b.lo    3f
    mov64   x4, PG_RW
3:  orr     x1, x2, x4
    str     x1, [x3], #8
    add     x2, x2, #0x1000
    subs    x8, x8, #1
    b.ne    2b
    // l2_test
    mov64   x2, RAM_BASE
    set_desc l2_test, 0, x2, BLK_RW
    la      x2, l3_test
    set_desc l2_test, 1, x2, D_TABLE
    mov64   x2, RAM_BASE
    set_desc l2_test, 3, x2, BLK_RW_NOAF
    mov64   x2, BIG_PA
    set_desc l2_test, 4, x2, BLK_RW
    // l3_test
    la      x2, data_page
    set_desc l3_test, PGI_ALIAS, x2, PG_RW
    set_desc l3_test, PGI_NOAF, x2, PG_RW_NOAF
    set_desc l3_test, PGI_RO, x2, PG_RO
    set_desc l3_test, PGI_KONLY, x2, PG_RW
    set_desc l3_test, PGI_DEVICE, x2, PG_DEVICE
    la      x2, probe_page
    set_desc l3_test, PGI_UXN, x2, PG_X_UXN
    set_desc l3_test, PGI_PXN, x2, PG_X_PXN
    set_desc l3_test, PGI_USERW, x2, PG_X_USERW
    set_desc l3_test, PGI_WRITABLE, x2, PG_X_WRITABLE
    la      x2, tlbi_page_a
    set_desc l3_test, PGI_TLBI, x2, PG_RW
    mov64   x2, BIG_PA
    set_desc l3_test, PGI_BIGOA, x2, PG_RW
    // TTBR1
    mov64   x2, RAM_BASE
    set_desc l1_hi, 1, x2, BLK_RWX
    // 48-bit root
    la      x2, l1_id
    set_desc l0_48, 0, x2, D_TABLE
    // ASID tables
    la      x2, l1_id
    la      x3, l1_asid_a
    la      x4, l1_asid_b
    mov     x5, #512
4:  ldr     x1, [x2], #8
    str     x1, [x3], #8
    str     x1, [x4], #8
    subs    x5, x5, #1
    b.ne    4b
    la      x2, l2_asid_a
    set_desc l1_asid_a, (VA_ASID >> 30), x2, D_TABLE
    la      x2, l2_asid_b
    set_desc l1_asid_b, (VA_ASID >> 30), x2, D_TABLE
    la      x2, l3_asid_a
    set_desc l2_asid_a, 0, x2, D_TABLE
    la      x2, l3_asid_b
    set_desc l2_asid_b, 0, x2, D_TABLE
    la      x2, asid_page_a
    set_desc l3_asid_a, 0, x2, PG_RW | D_NG
    la      x2, asid_page_b
    set_desc l3_asid_b, 0, x2, PG_RW | D_NG
    // The tables were written with the MMU off (Non-cacheable): invalidate
    // any stale cache lines over .bss so the cacheable walks and accesses
    // after the MMU is on see memory ("Data cache invalidate by VA to the
    // PoC"; a no-op without caches).
    mrs     x0, ctr_el0
    ubfx    x0, x0, #16, #4         // DminLine: log2(words per line)
    mov     x1, #4
    lsl     x1, x1, x0              // line size in bytes
    la      x2, bss_start
    la      x3, bss_end
5:  dc      ivac, x2
    add     x2, x2, x1
    cmp     x2, x3
    b.lo    5b
    dsb     sy
    ret

// ---------------------------------------------------------------------------
// Check bookkeeping: include/checks.S.
#include "checks.S"

// ---------------------------------------------------------------------------
// PL011 output (at VA = PA 0x09000000: flat with the MMU off, the Device
// block of l2_low with it on)

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
    b.eq    exc_resume_at
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
// "FAIL <name> unexpected exception vector=... ESR=... ELR=... FAR=..."
// and powers off.
exc_unexpected:
    adr     x28, rec
    mov     x19, x0
    ldr     x0, [x28, #REC_FAILED]
    cbnz    x0, 1f                  // the FAIL line has been started
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

// probe_page: code executed through the aliases PGI_UXN, PGI_PXN, PGI_USERW
// and PGI_WRITABLE (identity: kernel text).
    .balign 4096
probe_page:
probe_fn:
    movz    x0, #PROBE_VALUE
    ret

// smc_page: self_modifying_code patches smc_fn through VA_L1_ALIAS.
    .balign 4096
smc_page:
smc_fn:
    movz    x0, #1
    ret

// The user page: EL0 code (AP = 11 and UXN = 0 in the identity map;
// read-only, not executable at EL1). Everything before it from _start is
// kernel text (read-only, executable at EL1 only).
    .balign 4096
ktext_end:
user_page:
// el0_load: x2 = [x1], then back to the kernel.
el0_load:
el0_load_insn:
    ldr     x2, [x1]
    svc     #0xfff
    b       .
    .balign 4096
user_page_end:

// ---------------------------------------------------------------------------

    .data
    .balign 8
magic:
    .quad   MAGIC
scratch:
    .quad   0

    .bss
    .balign 4096
bss_start:
// Translation tables (4 KiB each, 512 descriptors)
l1_id:      .space 4096
l2_low:     .space 4096
l2_ram:     .space 4096
l3_img:     .space 4096
l2_test:    .space 4096
l3_test:    .space 4096
l1_hi:      .space 4096
l0_48:      .space 4096
l1_asid_a:  .space 4096
l1_asid_b:  .space 4096
l2_asid_a:  .space 4096
l2_asid_b:  .space 4096
l3_asid_a:  .space 4096
l3_asid_b:  .space 4096
// Data pages
data_page:  .space 4096
tlbi_page_a: .space 4096
tlbi_page_b: .space 4096
asid_page_a: .space 4096
asid_page_b: .space 4096
asid_page_c: .space 4096
asid_page_d: .space 4096
rec:
    .space  REC_SIZE
stack:
    .space  4096
stack_top:
el0_stack:
    .space  1024
el0_stack_top:
    .balign 16
bss_end:
