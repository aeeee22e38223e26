// smp-sync: cross-vCPU synchronisation (run with 2 vCPUs): WFE/SEV, the exclusive monitor as a
// WFE wake-up event, broadcast TLB maintenance and broadcast instruction-cache maintenance.
// Both CPUs run with the MMU on, on one identity map (4 KB pages; mmu-identity.S). Checks
// (PASS/FAIL lines, then DONE):
//   wfe_sev        CPU 1 waits in a WFE loop on a flag (no exclusive armed); CPU 0 sets the
//                  flag and executes SEV; CPU 1 acknowledges. ROUNDS rounds, each with CPU 0
//                  spending a while before it sets the flag, so CPU 1 sleeps in its WFE.
//   wfe_monitor    CPU 1 waits with LDAXR + WFE (the Linux smp_cond_load pattern, no SEV):
//                  CPU 0's plain store to the monitored word clears the global monitor, which
//                  is a WFE wake-up event (Arm ARM D1.16.2). ROUNDS rounds.
//   tlbi_is        CPU 1 keeps reading through VA `page_a` (the old mapping is in its TLB);
//                  CPU 0 points that VA's level-3 descriptor at `page_b` (odd rounds) or back
//                  at `page_a` (even rounds), TLBI VAE1IS + DSB ISH, then sets a flag; CPU 1
//                  reads the flag and the VA in one straight-line sequence and must see the
//                  new page's value whenever it sees the flag (Arm ARM D8.13: the TLBI is
//                  complete for every PE once the DSB after it completes). TLB_ROUNDS rounds.
//   ic_ivau        CPU 1 has run `patch_fn` (returns 1); CPU 0 rewrites its first instruction
//                  (to return 2), DC CVAU + DSB ISH + IC IVAU + DSB ISH, sets a flag; CPU 1
//                  sees it, ISB, calls `patch_fn` and must get 2 (Arm ARM B2.4.4).
//   ic_ialluis     the same with IC IALLUIS (returns 3).
#include "psci.S"
#include "mmu-identity.S"
    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5
    .equ REC_NAME,   0
    .equ REC_FAILED, 8
    .equ REC_MODE,   16
    .equ ROUNDS,     20
    .equ TLB_ROUNDS, 32
    .equ PAGES,      1024            // identity map of 0x40000000-0x403fffff
    .equ DELAY,      20000           // CPU 0's busy loop before it wakes CPU 1

#include "check-macros.S"

    .text
    .global _start
_start:
    mov     x0, #0
    bl      setup_cpu
    adr     x28, rec
    // L1[0]: VA 0-1 GiB as one Device-nGnRnE block (AttrIndx 0, AF, XN): the UART.
    adrp    x0, tables
    movz    x3, #0x0401
    movk    x3, #0x0060, lsl #48
    str     x3, [x0]
    mmu_identity_on tables, PAGES

    // CPU 1 (MPIDR 1) starts at cpu1_entry.
    mov     x1, #1
    adr     x2, cpu1_entry
    mov     x3, #0
    psci_cpu_on

    // ---- wfe_sev: CPU 1 sleeps in WFE until SEV.
    begin   "wfe_sev"
    mov     x19, #0                  // round
1:  adr     x2, sev_waiting
2:  ldar    x4, [x2]                 // CPU 1 is at its WFE loop for this round
    add     x5, x19, #1
    cmp     x4, x5
    b.ne    2b
    bl      delay
    adr     x2, sev_flag
    add     x5, x19, #1
    stlr    x5, [x2]
    dsb     ish
    sev
    adr     x2, sev_ack
3:  ldar    x4, [x2]
    add     x5, x19, #1
    cmp     x4, x5
    b.ne    3b
    add     x19, x19, #1
    cmp     x19, #ROUNDS
    b.lo    1b
    expect  x19, ROUNDS
    bl      check_end

    // ---- wfe_monitor: CPU 1 waits with LDAXR + WFE; a plain store wakes it.
    begin   "wfe_monitor"
    mov     x19, #0
1:  adr     x2, mon_waiting
2:  ldar    x4, [x2]
    add     x5, x19, #1
    cmp     x4, x5
    b.ne    2b
    bl      delay
    adr     x2, mon_flag
    add     x5, x19, #1
    str     x5, [x2]                 // no SEV
    adr     x2, mon_ack
3:  ldar    x4, [x2]
    add     x5, x19, #1
    cmp     x4, x5
    b.ne    3b
    add     x19, x19, #1
    cmp     x19, #ROUNDS
    b.lo    1b
    expect  x19, ROUNDS
    bl      check_end

    // ---- tlbi_is: remap page_a's VA to page_b and back, TLB_ROUNDS times, while CPU 1 uses it.
    begin   "tlbi_is"
    adr     x2, tlb_ready
1:  ldar    x4, [x2]
    cbz     x4, 1b
    adrp    x6, page_a
    adrp    x8, tables
    add     x8, x8, #0x2000          // the level-3 tables
    and     x9, x6, #0x3fffffff
    lsr     x9, x9, #12
    add     x8, x8, x9, lsl #3       // page_a's descriptor
    ldr     x10, [x8]
    and     x11, x10, #0xfff         // attributes
    mov     x19, #1                  // round
    mov     x20, #0                  // rounds where CPU 1 saw the old mapping
2:  tst     x19, #1
    adrp    x7, page_b               // odd rounds: page_b, even: page_a again
    csel    x7, x7, x6, ne
    orr     x12, x11, x7
    str     x12, [x8]
    dsb     ishst
    lsr     x9, x6, #12
    tlbi    vae1is, x9
    dsb     ish
    isb
    adr     x2, tlb_flag
    stlr    x19, [x2]
    adr     x2, tlb_seen
3:  ldar    x4, [x2]
    cmp     x4, x19
    b.ne    3b
    ldr     x0, [x6]                 // this CPU sees the new mapping too
    ldr     x1, [x7]
    cstring x2, "cpu0"
    bl      check_eq
    adr     x2, tlb_result
    ldr     x4, [x2]
    ldr     x5, [x7]
    cmp     x4, x5
    cinc    x20, x20, ne
    add     x19, x19, #1
    cmp     x19, #TLB_ROUNDS
    b.ls    2b
    mov     x0, x20
    mov     x1, #0
    cstring x2, "stale_rounds"
    bl      check_eq
    bl      check_end

    // ---- ic_ivau and ic_ialluis: rewrite code CPU 1 has run.
    begin   "ic_ivau"
    mov     x0, #1                   // round 1: IC IVAU, patch_fn returns 2
    bl      patch_round
    mov     x1, #2
    cstring x2, "result"
    bl      check_eq
    bl      check_end
    begin   "ic_ialluis"
    mov     x0, #2                   // round 2: IC IALLUIS, patch_fn returns 3
    bl      patch_round
    mov     x1, #3
    cstring x2, "result"
    bl      check_eq
    bl      check_end

    cstring x0, "DONE\n"
    bl      puts
    psci_system_off

// patch_round: x0 = round (1 or 2). Waits until CPU 1 has run patch_fn for this round, rewrites
// its first instruction to `mov x0, #(round + 1)`, invalidates (round 1: IC IVAU, round 2: IC
// IALLUIS), releases CPU 1 and returns x0 = what CPU 1's next call returned.
patch_round:
    mov     x12, x0
    adr     x2, ic_ready
1:  ldar    x4, [x2]
    cmp     x4, x12
    b.ne    1b
    adr     x6, patch_fn
    movz    w7, #0x0000              // MOVZ X0, #(round + 1): 0xd2800000 | imm16 << 5
    movk    w7, #0xd280, lsl #16
    add     x8, x12, #1
    orr     w7, w7, w8, lsl #5
    str     w7, [x6]
    dc      cvau, x6
    dsb     ish
    cmp     x12, #1
    b.ne    2f
    ic      ivau, x6
    b       3f
2:  ic      ialluis
3:  dsb     ish
    isb
    adr     x2, ic_flag
    stlr    x12, [x2]
    adr     x2, ic_result_round
4:  ldar    x4, [x2]
    cmp     x4, x12
    b.ne    4b
    adr     x2, ic_result
    ldr     x0, [x2]
    ret

// delay: a busy loop of DELAY iterations (CPU 1 reaches its WFE meanwhile). Clobbers x4.
delay:
    mov     x4, #DELAY
1:  subs    x4, x4, #1
    b.ne    1b
    ret

    .balign 4096
// patch_fn: its own page of code; returns 1 until CPU 0 rewrites it.
patch_fn:
    mov     x0, #1
    ret
    .balign 4096

cpu1_entry:
    mov     x0, #1
    bl      setup_cpu
    bl      mmu_regs_on

    // wfe_sev
    mov     x19, #0
1:  add     x5, x19, #1
    adr     x2, sev_waiting
    stlr    x5, [x2]
    adr     x2, sev_flag
2:  ldar    x4, [x2]
    cmp     x4, x5
    b.eq    3f
    wfe
    b       2b
3:  adr     x2, sev_ack
    stlr    x5, [x2]
    add     x19, x19, #1
    cmp     x19, #ROUNDS
    b.lo    1b

    // wfe_monitor
    mov     x19, #0
1:  add     x5, x19, #1
    adr     x2, mon_waiting
    stlr    x5, [x2]
    adr     x2, mon_flag
    sevl
    wfe                              // clear the event register (SEVL then WFE)
2:  ldaxr   x4, [x2]
    cmp     x4, x5
    b.eq    3f
    wfe
    b       2b
3:  clrex
    adr     x2, mon_ack
    stlr    x5, [x2]
    add     x19, x19, #1
    cmp     x19, #ROUNDS
    b.lo    1b

    // tlbi_is: load through page_a (fills the TLB), then each round poll the flag and the VA
    // together, in one block.
    adrp    x6, page_a
    ldr     x5, [x6]
    adr     x2, tlb_ready
    mov     x4, #1
    stlr    x4, [x2]
    mov     x19, #1
1:  adr     x2, tlb_flag
2:  ldar    x4, [x2]
    ldr     x5, [x6]
    cmp     x4, x19
    b.ne    2b
    adr     x2, tlb_result
    str     x5, [x2]
    adr     x2, tlb_seen
    stlr    x19, [x2]
    add     x19, x19, #1
    cmp     x19, #TLB_ROUNDS
    b.ls    1b

    // ic_ivau (round 1) and ic_ialluis (round 2).
    mov     x19, #1
1:  bl      patch_fn                 // decode and run the current code
    adr     x2, ic_ready
    stlr    x19, [x2]
    adr     x2, ic_flag
2:  ldar    x4, [x2]
    cmp     x4, x19
    b.ne    2b
    isb
    bl      patch_fn
    adr     x2, ic_result
    str     x0, [x2]
    adr     x2, ic_result_round
    stlr    x19, [x2]
    add     x19, x19, #1
    cmp     x19, #3
    b.lo    1b

    psci_cpu_off

#include "smp-cpu.S"

// mmu_regs_on: the MMU on with the tables CPU 0 built (the register half of mmu_identity_on).
// Clobbers x0, x3.
mmu_regs_on:
    movz    x3, #0xff00
    msr     mair_el1, x3
    movz    x3, #0x3519
    movk    x3, #0x8080, lsl #16
    movk    x3, #0x2, lsl #32
    msr     tcr_el1, x3
    adrp    x0, tables
    msr     ttbr0_el1, x0
    tlbi    vmalle1
    dsb     sy
    isb
    mrs     x3, sctlr_el1
    orr     x3, x3, #1
    orr     x3, x3, #(1 << 2)
    orr     x3, x3, #(1 << 12)
    msr     sctlr_el1, x3
    isb
    ret

irq_handler:
    eret

#include "console.S"
#include "checks.S"
    .ltorg

#include "irq-vectors.S"

    .balign 64
rec:            .space 32
sev_waiting:    .quad 0
sev_flag:       .quad 0
sev_ack:        .quad 0
mon_waiting:    .quad 0
    .balign 64
mon_flag:       .quad 0
    .balign 64
mon_ack:        .quad 0
tlb_ready:      .quad 0
tlb_flag:       .quad 0
tlb_seen:       .quad 0
tlb_result:     .quad 0
ic_ready:       .quad 0
ic_flag:        .quad 0
ic_result:      .quad 0
ic_result_round: .quad 0
    .balign 16
stacks:         .space 1024 * 4
    .balign 4096
page_a:         .quad 0xaaaa
    .balign 4096
page_b:         .quad 0xbbbb
    .balign 4096
tables:         .space 4096 * 4
