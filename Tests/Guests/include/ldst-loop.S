// bench_ldst_loop: the load/store benchmark loop of bench-ldst and bench-ldst-mmu. Each
// iteration does 4 loads and 4 stores (single registers with unsigned offsets, a register
// offset, and a pair each way) on the 64-byte buffer at BUFFER, plus 4 ALU/branch
// instructions: 12 instructions, 20,000,000 iterations (240 M instructions).
    .macro bench_ldst_loop buffer
    adr     x1, \buffer
    movz    x0, #0x2d00             // 20,000,000 = 0x01312D00
    movk    x0, #0x0131, lsl #16
    movz    x6, #2
998:
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1, #8]
    ldr     w3, [x1, #16]
    str     w3, [x1, #24]
    ldr     x7, [x1, x6, lsl #3]
    ldp     x4, x5, [x1]
    stp     x4, x5, [x1, #32]
    str     x7, [x1]
    add     x3, x3, x2
    subs    x0, x0, #1
    b.ne    998b
    .endm
