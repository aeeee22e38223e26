// gicv2: the virtual GICv2 (run with 2 vCPUs and gic = v2): the distributor with INTIDs 0-31
// banked per CPU, ITARGETSR and GICD_SGIR, and the memory-mapped CPU interface at 0x08010000
// served from the list registers. Interrupts are polled through GICC_IAR with PSTATE.I set,
// except the timer and the SGIs between CPUs, which are taken as IRQs. Checks (PASS/FAIL, DONE):
//   typer              GICD_TYPER: ITLinesNumber 8, CPUNumber 1
//   itargets_spi       an SPI's ITARGETSR byte reads back as written
//   timer_irq          the virtual timer's PPI 27 arrives as an IRQ, GICC_IAR = 27
//   spurious_after     after GICC_EOIR, GICC_IAR = 1023
//   pmr_masks          a pending SGI at priority 0x80 is not signalled with GICC_PMR = 0x80
//   pmr_unmasks        with GICC_PMR = 0xf0 it is: GICC_IAR = 5 (source CPU 0)
//   no_preemption      while 5 (0x80) is active, a pending 0xa0 SGI is not signalled
//   preemption         a 0x40 SGI preempts: GICC_IAR = 7, GICC_RPR = 0x40
//   priority_order     after EOI of 7 and 5, the 0xa0 SGI 6 is signalled
//   eoimode_split      with EOImode = 1, EOIR drops the priority (RPR = 0xff) but the
//                      interrupt stays active until GICC_DIR
//   lr_overflow        SGIs 8-15 pending at once (more than the 4 list registers) are polled
//                      through GICC_IAR exactly once each, in priority order, then 1023
//   sgi_to_cpu1        GICD_SGIR (target list) wakes CPU 1 from WFI: IAR = 3 from CPU 0
//   sgi_to_cpu0        GICD_SGIR (all but self) from CPU 1: IAR = 0x404 (SGI 4, CPU ID 1)
//   spi_to_cpu1        an SPI whose ITARGETSR names CPU 1 reaches CPU 1 (IAR = 33), not CPU 0
// (Arm IHI 0048B GICv2: 4.3 distributor, 4.4 CPU interface, 3.3 priorities and preemption.)
#include "psci.S"
    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5
    .equ GICD,       0x08000000
    .equ GICC,       0x08010000
    .equ REC_NAME,   0
    .equ REC_FAILED, 8
    .equ REC_MODE,   16

#include "check-macros.S"

    // GICD/GICC register access with x20 = GICD, x21 = GICC.
    .macro gicc_read reg, offset
    ldr     \reg, [x21, #\offset]
    .endm

    .text
    .global _start
_start:
    mov     x0, #0
    bl      setup_cpu
    adr     x28, rec
    movz    x20, #(GICD >> 16), lsl #16
    movz    x21, #(GICC >> 16), lsl #16

    begin   "typer"
    ldr     w4, [x20, #4]
    and     w4, w4, #0xff
    expect  x4, 0x28
    bl      check_end

    begin   "itargets_spi"
    mov     w4, #2
    strb    w4, [x20, #(0x800 + 33)]
    ldrb    w4, [x20, #(0x800 + 33)]
    expect  x4, 2
    bl      check_end

    // Distributor and CPU interface on; priorities: timer 0x80, SGIs 3-8 as used below.
    mov     w4, #1
    str     w4, [x20]                 // GICD_CTLR.Enable
    bl      setup_gic_cpu
    mov     w4, #0x80
    strb    w4, [x20, #(0x400 + 27)]
    movz    w4, #(1 << 11), lsl #16   // bit 27
    str     w4, [x20, #0x100]         // ISENABLER0

    // The virtual timer, taken as an IRQ.
    movz    x2, #62500                // 1 ms
    msr     cntv_tval_el0, x2
    mov     x2, #1
    msr     cntv_ctl_el0, x2
    isb
    adr     x2, irq_seen
    bl      wait_for_irq
    begin   "timer_irq"
    ldr     x4, irq_seen
    expect  x4, 27
    bl      check_end
    begin   "spurious_after"
    gicc_read w4, 0xC
    expect  x4, 1023
    bl      check_end

    // Priority mask: SGI 5 (0x80) to self, PMR 0x80 then 0xf0.
    mov     w4, #0x80
    strb    w4, [x20, #(0x400 + 5)]
    mov     w4, #0xa0
    strb    w4, [x20, #(0x400 + 6)]
    mov     w4, #0x40
    strb    w4, [x20, #(0x400 + 7)]
    mov     w4, #0x80
    strb    w4, [x20, #(0x400 + 8)]
    mov     w4, #0x80
    str     w4, [x21, #4]             // PMR = 0x80
    movz    w4, #0x0200, lsl #16      // TargetListFilter 2: self
    add     w4, w4, #5
    str     w4, [x20, #0xF00]
    begin   "pmr_masks"
    gicc_read w4, 0xC
    expect  x4, 1023
    bl      check_end
    mov     w4, #0xf0
    str     w4, [x21, #4]
    begin   "pmr_unmasks"
    gicc_read w22, 0xC                // SGI 5 becomes active, running priority 0x80
    expect  x22, 5
    bl      check_end

    // Preemption: SGI 6 (0xa0) must wait, SGI 7 (0x40) preempts.
    movz    w4, #0x0200, lsl #16
    add     w4, w4, #6
    str     w4, [x20, #0xF00]
    begin   "no_preemption"
    gicc_read w4, 0xC
    expect  x4, 1023
    bl      check_end
    movz    w4, #0x0200, lsl #16
    add     w4, w4, #7
    str     w4, [x20, #0xF00]
    begin   "preemption"
    gicc_read w23, 0xC
    expect  x23, 7
    gicc_read w4, 0x14
    expect  x4, 0x40
    bl      check_end
    str     w23, [x21, #0x10]         // EOI 7
    str     w22, [x21, #0x10]         // EOI 5
    begin   "priority_order"
    gicc_read w24, 0xC
    expect  x24, 6
    bl      check_end
    str     w24, [x21, #0x10]

    // EOImode = 1: EOIR only drops the priority, DIR deactivates.
    movz    w4, #0x0200
    add     w4, w4, #1
    str     w4, [x21]                 // GICC_CTLR: EnableGrp0 | EOImode
    movz    w4, #0x0200, lsl #16
    add     w4, w4, #8
    str     w4, [x20, #0xF00]
    begin   "eoimode_split"
    gicc_read w25, 0xC
    expect  x25, 8
    str     w25, [x21, #0x10]         // EOIR: priority drop
    gicc_read w4, 0x14
    expect  x4, 0xff
    ldr     w4, [x20, #0x300]         // ISACTIVER0
    ubfx    w4, w4, #8, #1
    expect  x4, 1
    movz    x6, #(GICC >> 16), lsl #16
    add     x6, x6, #0x1000
    str     w25, [x6]                 // GICC_DIR
    ldr     w4, [x20, #0x300]
    ubfx    w4, w4, #8, #1
    expect  x4, 0
    bl      check_end
    mov     w4, #1
    str     w4, [x21]                 // back to EOImode 0

    // lr_overflow: SGIs 8-15 made pending at once (more than the 4 list registers), at
    // priorities 0x80 (SGI 8) down to 0x48 (SGI 15), then polled through GICC_IAR: each comes
    // exactly once, in priority order, then the spurious 1023.
    begin   "lr_overflow"
    mov     x22, #0
1:  add     x4, x20, #0x400
    add     x5, x22, #8
    mov     x7, #0x80
    sub     x7, x7, x22, lsl #3
    strb    w7, [x4, x5]              // GICD_IPRIORITYR byte of SGI 8 + i
    add     x22, x22, #1
    cmp     x22, #8
    b.lo    1b
    mov     x22, #8
2:  movz    w4, #0x0200, lsl #16      // GICD_SGIR TargetListFilter = 2: this CPU
    orr     w4, w4, w22
    str     w4, [x20, #0xF00]
    add     x22, x22, #1
    cmp     x22, #16
    b.lo    2b
    mov     x22, #15
3:  gicc_read w25, 0xC
    and     x0, x25, #0x3ff
    mov     x1, x22
    cstring x2, "intid"
    bl      check_eq
    str     w25, [x21, #0x10]         // GICC_EOIR
    sub     x22, x22, #1
    cmp     x22, #8
    b.hs    3b
    gicc_read w4, 0xC
    and     x4, x4, #0x3ff
    expect  x4, 1023
    bl      check_end

    // SGIs between the CPUs, taken as IRQs by CPUs sleeping in WFI.
    adr     x2, irq_seen
    str     xzr, [x2]
    mov     x1, #1
    adr     x2, cpu1_entry
    mov     x3, #0
    psci_cpu_on
    adr     x2, cpu1_ready
1:  ldar    x4, [x2]
    cbz     x4, 1b
    movz    w4, #0x0002, lsl #16      // CPUTargetList = CPU 1
    add     w4, w4, #3
    str     w4, [x20, #0xF00]
    adr     x2, irq_seen
    bl      wait_for_irq
    begin   "sgi_to_cpu1"
    ldr     x4, cpu1_first            // written by CPU 1 before it sent SGI 4
    expect  x4, 3
    bl      check_end
    begin   "sgi_to_cpu0"
    ldr     x4, irq_seen
    expect  x4, 0x404
    bl      check_end

    // SPI 33 targeted at CPU 1 (ITARGETSR byte 33 = 0x02, written above), made pending here.
    mov     w4, #0x80
    strb    w4, [x20, #(0x400 + 33)]
    mov     w4, #2                    // INTID 33 = bit 1 of the second bank
    str     w4, [x20, #0x104]         // ISENABLER1
    str     w4, [x20, #0x204]         // ISPENDR1
    adr     x2, irq_seen + 8
2:  ldar    x4, [x2]
    cbz     x4, 2b
    begin   "spi_to_cpu1"
    ldr     x4, [x2]
    expect  x4, 33
    gicc_read w4, 0xC                 // nothing for CPU 0
    expect  x4, 1023
    bl      check_end
    cstring x0, "DONE\n"
    bl      puts
    psci_system_off

#include "smp-cpu.S"

// setup_gic_cpu: this CPU's interface on (EnableGrp0), PMR 0xf0, SGIs 3 and 4 at 0x80.
setup_gic_cpu:
    movz    x1, #(GICC >> 16), lsl #16
    mov     w2, #0xf0
    str     w2, [x1, #4]
    mov     w2, #1
    str     w2, [x1]
    movz    x1, #(GICD >> 16), lsl #16
    mov     w2, #0x80
    strb    w2, [x1, #(0x400 + 3)]
    strb    w2, [x1, #(0x400 + 4)]
    ret

// wait_for_irq: x2 = this CPU's irq_seen slot; sleeps in WFI with IRQs masked, taking each
// pending IRQ in a short unmasked window, until the slot is set. Clobbers x4.
wait_for_irq:
    msr     daifset, #2
1:  ldr     x4, [x2]
    cbnz    x4, 2f
    wfi
    msr     daifclr, #2
    isb
    msr     daifset, #2
    b       1b
2:  ret

cpu1_entry:
    mov     x0, #1
    bl      setup_cpu
    bl      setup_gic_cpu
    movz    x20, #(GICD >> 16), lsl #16
    mov     x4, #1
    adr     x2, cpu1_ready
    stlr    x4, [x2]
    adr     x2, irq_seen + 8
    bl      wait_for_irq
    ldr     x4, [x2]                  // SGI 3: keep it, free the slot for the SPI
    adr     x5, cpu1_first
    str     x4, [x5]
    str     xzr, [x2]
    dmb     ish
    movz    w4, #0x0100, lsl #16      // TargetListFilter 1: all but self
    add     w4, w4, #4
    str     w4, [x20, #0xF00]
    bl      wait_for_irq              // SPI 33, routed here by ITARGETSR
    psci_cpu_off

// IRQ: acknowledge through GICC_IAR, mask the timer if it was the timer, record the IAR value
// in irq_seen[cpu], end it.
irq_handler:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x3, [sp, #-16]!
    movz    x3, #(GICC >> 16), lsl #16
    ldr     w0, [x3, #0xC]
    and     w1, w0, #0x3ff
    cmp     w1, #27
    b.ne    1f
    mov     x2, #3                    // ENABLE | IMASK: the timer line drops
    msr     cntv_ctl_el0, x2
    isb
1:  mrs     x1, mpidr_el1
    and     x1, x1, #0xff
    adr     x2, irq_seen
    str     x0, [x2, x1, lsl #3]
    str     w0, [x3, #0x10]
    ldp     x2, x3, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

#include "console.S"
#include "checks.S"
    .ltorg

#include "irq-vectors.S"

    .balign 64
rec:            .space 32
cpu1_ready:     .quad 0
cpu1_first:     .quad 0
irq_seen:       .space 8 * 8
    .balign 16
stacks:         .space 1024 * 4
