// bench-ldst-mmu: bench-ldst with the MMU on. The first 2 MiB of RAM (image and buffer) are
// identity-mapped with 4 KB pages, then exactly the bench-ldst loop runs: 12 instructions per
// iteration, 20,000,000 iterations (240 M instructions, plus the set-up). scripts/bench compares
// it with bench-ldst: the MMU-on figure should be within 25 % of the MMU-off one.
#include "mmu-identity.S"
    .text
    .global _start
_start:
    mmu_identity_on tables, 512
    adr     x1, buffer
    movz    x0, #0x2d00             // 20,000,000 = 0x01312D00
    movk    x0, #0x0131, lsl #16
    movz    x6, #2
1:
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
    b.ne    1b
    movz    w0, #0x0008
    movk    w0, #0x8400, lsl #16
    hvc     #0
2:  wfi
    b       2b

    .balign 4096
buffer:
    .space  64
    .balign 4096
tables:
    .space  0x3000
