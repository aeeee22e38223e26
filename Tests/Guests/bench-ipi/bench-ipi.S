// bench-ipi: IPI latency between two running vCPUs (run with 2 vCPUs, GICv3). vCPU 1 spins with
// IRQs unmasked (never WFI); vCPU 0 sends it SGI 1 through ICC_SGI1R_EL1, vCPU 1's handler
// acknowledges, ends it and sends SGI 2 back, and vCPU 0 — also spinning, IRQs unmasked — waits
// for its handler to count the reply before the next round. N = 20,000 round trips, then PSCI
// SYSTEM_OFF. scripts/bench: (time - bench-empty) / N / 2 = one IPI to a running vCPU.
#include "psci.S"
    .equ N, 20000

    .text
    .global _start
_start:
    mov     x0, #0
    bl      setup_cpu
    mov     x0, #0
    bl      setup_gic_cpu
    bl      gicv3_distributor_on
    mov     x1, #1
    adr     x2, secondary
    mov     x3, #0
    psci_cpu_on
    adr     x2, ready
1:  ldar    x4, [x2]
    cbz     x4, 1b
    msr     daifclr, #2
    adr     x20, replies
    mov     x19, #0
    movz    x21, #(1 << 8), lsl #16   // INTID 1
    orr     x21, x21, #2              // TargetList: Aff0 = 1
2:  msr     icc_sgi1r_el1, x21
    isb
    add     x19, x19, #1
3:  ldr     x4, [x20]                 // spin until the reply's handler counted it
    cmp     x4, x19
    b.ne    3b
    mov     x5, #N
    cmp     x19, x5
    b.lo    2b
    msr     daifset, #2
    psci_system_off

secondary:
    mov     x0, #1
    bl      setup_cpu
    mov     x0, #1
    bl      setup_gic_cpu
    msr     daifclr, #2
    adr     x2, ready
    mov     x4, #1
    stlr    x4, [x2]
1:  b       1b                        // running, not waiting: the IPI must interrupt it

#include "smp-cpu.S"

// setup_gic_cpu: x0 = CPU index. Its redistributor awake, SGIs group 1 priority 0x80, SGIs 1
// and 2 enabled, the CPU interface on.
setup_gic_cpu:
    stp     x29, x30, [sp, #-16]!
    bl      gicv3_wake_redistributor
    add     x3, x1, #SGI_BASE
    mov     w2, #-1
    str     w2, [x3, #0x80]
    movz    w2, #0x8080
    movk    w2, #0x8080, lsl #16
    str     w2, [x3, #0x400]
    mov     w2, #6
    str     w2, [x3, #0x100]
    bl      gicv3_cpu_interface_on
    ldp     x29, x30, [sp], #16
    ret

// IRQ: SGI 1 on vCPU 1 → send SGI 2 to vCPU 0; SGI 2 on vCPU 0 → count the reply.
irq_handler:
    stp     x0, x1, [sp, #-16]!
    mrs     x0, icc_iar1_el1
    msr     icc_eoir1_el1, x0
    cmp     x0, #1
    b.ne    1f
    movz    x1, #(2 << 8), lsl #16    // INTID 2
    orr     x1, x1, #1                // TargetList: Aff0 = 0
    msr     icc_sgi1r_el1, x1
    b       2f
1:  cmp     x0, #2
    b.ne    2f
    adr     x1, replies
    ldr     x0, [x1]
    add     x0, x0, #1
    str     x0, [x1]
2:  ldp     x0, x1, [sp], #16
    eret

#include "gicv3.S"
#include "irq-vectors.S"

    .balign 64
ready:          .quad 0
    .balign 64
replies:        .quad 0
    .balign 16
stacks:         .space 1024 * 2
