// timer: the EL1 virtual timer's interrupt through the virtual GICv3. Sets up the
// distributor and this vCPU's redistributor, enables PPI 27 (the virtual timer), programs
// CNTV_TVAL_EL0, unmasks IRQs and waits in WFI. The IRQ handler acknowledges with
// ICC_IAR1_EL1 (no exit: served from a list register), masks the timer, ends the interrupt
// with ICC_EOIR1_EL1 and returns. Checks (PASS/FAIL lines, then DONE):
//   timer_irq        the IRQ vector was taken and IAR1 returned 27
//   timer_istatus    CNTV_CTL_EL0.ISTATUS read 1 in the handler
//   spurious_after   after EOI, IAR1 reads 1023 (nothing else pending)
//   running_idle     ICC_RPR_EL1 is 0xff again after EOI
// (Arm IHI 0069 GICv3; Arm ARM D11.2 generic timer.)
#include "psci.S"
    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5

    .macro say label
    adr     x0, \label
    bl      puts
    .endm

    .text
    .global _start
_start:
    adr     x0, stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    isb
    // Distributor: affinity routing is always on; enable group 1.
    bl      gicv3_distributor_on      // x1 = GICD
    // Redistributor: wake it up, make PPI 27 group 1, priority 0x80, enabled.
    mov     x0, #0
    bl      gicv3_wake_redistributor
    add     x3, x1, #SGI_BASE
    movz    w2, #0xffff
    movk    w2, #0xffff, lsl #16
    str     w2, [x3, #0x80]           // IGROUPR0: all group 1
    movz    w2, #0x80
    strb    w2, [x3, #(0x400 + 27)]   // IPRIORITYR: PPI 27 = 0x80
    movz    w2, #(1 << 11)
    lsl     w2, w2, #16               // bit 27
    str     w2, [x3, #0x100]          // ISENABLER0
    // CPU interface: system registers on, priority mask 0xf0, group 1 on.
    bl      gicv3_cpu_interface_on
    // Timer: 1 ms at 62.5 MHz.
    movz    x2, #62500
    msr     cntv_tval_el0, x2
    movz    x2, #1
    msr     cntv_ctl_el0, x2
    isb
    msr     daifclr, #2               // unmask IRQ
2:  wfi
    ldr     x9, irq_count
    cbz     x9, 2b
    msr     daifset, #2

    ldr     x10, irq_intid
    cmp     x10, #27
    b.ne    3f
    say     pass_irq
    b       4f
3:  say     fail_irq
4:  ldr     x10, irq_istatus
    cmp     x10, #1
    b.ne    5f
    say     pass_istatus
    b       6f
5:  say     fail_istatus
6:  mrs     x10, icc_iar1_el1
    cmp     x10, #1023
    b.ne    7f
    say     pass_spurious
    b       8f
7:  say     fail_spurious
8:  mrs     x10, icc_rpr_el1
    cmp     x10, #0xff
    b.ne    9f
    say     pass_rpr
    b       10f
9:  say     fail_rpr
10: say     done
    psci_system_off

irq_handler:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x30, [sp, #-16]!
    mrs     x0, icc_iar1_el1
    adr     x1, irq_intid
    str     x0, [x1]
    mrs     x2, cntv_ctl_el0
    ubfx    x2, x2, #2, #1
    adr     x1, irq_istatus
    str     x2, [x1]
    movz    x2, #3                    // ENABLE | IMASK: the line drops
    msr     cntv_ctl_el0, x2
    isb
    msr     icc_eoir1_el1, x0
    adr     x1, irq_count
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    ldp     x2, x30, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

#include "console.S"
#include "gicv3.S"

#include "irq-vectors.S"

pass_irq:      .asciz "PASS timer_irq\n"
fail_irq:      .asciz "FAIL timer_irq\n"
pass_istatus:  .asciz "PASS timer_istatus\n"
fail_istatus:  .asciz "FAIL timer_istatus\n"
pass_spurious: .asciz "PASS spurious_after\n"
fail_spurious: .asciz "FAIL spurious_after\n"
pass_rpr:      .asciz "PASS running_idle\n"
fail_rpr:      .asciz "FAIL running_idle\n"
done:          .asciz "DONE\n"

    .balign 8
irq_count:   .quad 0
irq_intid:   .quad 0
irq_istatus: .quad 0
    .balign 16
stack:       .space 1024
stack_top:
