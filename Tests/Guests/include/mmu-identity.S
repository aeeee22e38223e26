// mmu_identity_on TABLES, PAGES: builds a 4 KB-page identity map of PAGES pages of RAM from
// 0x40000000 (Normal write-back, MAIR index 1, inner shareable, AF set, EL1 RW) in the
// page-aligned, zero-filled area at TABLES — level-1 table at +0, level-2 at +0x1000, level-3
// tables from +0x2000 (one per 2 MiB) — and turns the MMU and caches on. TCR_EL1: T0SZ = 25
// (39-bit VAs, walks start at level 1), TTBR1 walks disabled, IPS = 40 bits. Clobbers x0-x5.
// (Arm ARM D5.2 and D5.3, VMSAv8-64 with the 4 KB granule.)
    .macro mmu_identity_on tables, pages
    adrp    x0, \tables
    add     x1, x0, #0x1000
    add     x2, x0, #0x2000
    orr     x3, x1, #3                  // L1[1] (VA 0x40000000-0x7fffffff) → L2
    str     x3, [x0, #8]
    movz    x4, #0
    movz    x5, #((\pages + 511) / 512)
100:
    add     x3, x2, x4, lsl #12         // L2[i] → L3 table i
    orr     x3, x3, #3
    str     x3, [x1, x4, lsl #3]
    add     x4, x4, #1
    cmp     x4, x5
    b.ne    100b
    movz    x3, #0x0707                 // page | AttrIndx 1 | SH inner | AF
    movk    x3, #0x4000, lsl #16
    movz    x4, #0
    movz    x5, #((\pages) & 0xffff)
    movk    x5, #((\pages) >> 16), lsl #16
101:
    str     x3, [x2, x4, lsl #3]
    add     x3, x3, #0x1000
    add     x4, x4, #1
    cmp     x4, x5
    b.ne    101b
    movz    x3, #0xff00                 // MAIR: attr0 Device-nGnRnE, attr1 Normal WB
    msr     mair_el1, x3
    movz    x3, #0x3519                 // T0SZ 25, IRGN0/ORGN0 WBWA, SH0 inner
    movk    x3, #0x8080, lsl #16        // EPD1, TG1 = 4 KB
    movk    x3, #0x2, lsl #32           // IPS = 40 bits
    msr     tcr_el1, x3
    msr     ttbr0_el1, x0
    tlbi    vmalle1
    dsb     sy
    isb
    mrs     x3, sctlr_el1
    orr     x3, x3, #1                  // M
    orr     x3, x3, #(1 << 2)           // C
    orr     x3, x3, #(1 << 12)          // I
    msr     sctlr_el1, x3
    isb
    .endm
