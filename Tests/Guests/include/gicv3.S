// gicv3.S: GICv3 set-up routines shared by the guests that use the virtual GICv3 (#include it
// in .text; it defines GICD, GICR and SGI_BASE). Arm IHI 0069: 12.11.43 GICR_WAKER, 12.2
// ICC_SRE_EL1, ICC_PMR_EL1, ICC_IGRPEN1_EL1.
    .equ GICD,       0x08000000
    .equ GICR,       0x080a0000
    .equ SGI_BASE,   0x10000

// gicv3_wake_redistributor: x0 = CPU index. Clears GICR_WAKER.ProcessorSleep of that CPU's
// redistributor (128 KiB each) and waits for ChildrenAsleep to clear. Returns x1 = its RD_base.
// Clobbers x2.
gicv3_wake_redistributor:
    movz    x1, #(GICR >> 16), lsl #16
    movk    x1, #(GICR & 0xffff)
    add     x1, x1, x0, lsl #17
    ldr     w2, [x1, #0x14]
    bic     w2, w2, #2
    str     w2, [x1, #0x14]
1:  ldr     w2, [x1, #0x14]
    tbnz    w2, #2, 1b
    ret

// gicv3_cpu_interface_on: the system-register CPU interface on (ICC_SRE_EL1.SRE), priority
// mask 0xf0, group 1 enabled. Clobbers x2.
gicv3_cpu_interface_on:
    mrs     x2, icc_sre_el1
    orr     x2, x2, #1
    msr     icc_sre_el1, x2
    isb
    mov     x2, #0xf0
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    ret

// gicv3_distributor_on: GICD_CTLR = ARE_NS | EnableGrp1NS (affinity routing, group 1 on).
// Clobbers x1, x2.
gicv3_distributor_on:
    movz    x1, #(GICD >> 16), lsl #16
    movz    w2, #0x12
    str     w2, [x1]
    ret

// gicv3_enable_spi: x0 = INTID of an SPI (32–1019). Group 1 (GICD_IGROUPR<n>), priority 0x80
// (GICD_IPRIORITYR), routed to affinity 0.0.0.0 (GICD_IROUTER<INTID>), enabled
// (GICD_ISENABLER<n>), n = INTID / 32 (IHI 0069 12.9). Clobbers x1–x4.
gicv3_enable_spi:
    movz    x1, #(GICD >> 16), lsl #16
    lsr     x2, x0, #5
    add     x2, x1, x2, lsl #2        // GICD + 4n
    and     x3, x0, #31
    mov     w4, #1
    lsl     w3, w4, w3                // the INTID's bit in register n
    ldr     w4, [x2, #0x80]           // GICD_IGROUPR<n>
    orr     w4, w4, w3
    str     w4, [x2, #0x80]
    add     x4, x1, #0x400
    movz    w1, #0x80
    strb    w1, [x4, x0]              // GICD_IPRIORITYR byte
    movz    x1, #(GICD >> 16), lsl #16
    add     x4, x1, #0x6000
    str     xzr, [x4, x0, lsl #3]     // GICD_IROUTER<INTID>
    str     w3, [x2, #0x100]          // GICD_ISENABLER<n>
    ret
