// bench-alu: the integer ALU benchmark of scripts/bench. A loop of 8 data-processing
// instructions (the last a SUBS) and a B.NE, run 50,000,000 times (450 M instructions), then
// PSCI SYSTEM_OFF. No MMIO inside the loop: it measures the interpreter alone.
#include "psci.S"
    .text
    .global _start
_start:
    movz    x0, #0xf080, lsl #0     // iteration count 50,000,000 = 0x02FAF080
    movk    x0, #0x02fa, lsl #16
    movz    x1, #1
    movz    x2, #3
    movz    x3, #0
1:
    add     x3, x3, x1
    eor     x4, x3, x2
    add     x5, x4, x3, lsl #2
    sub     x6, x5, x1
    orr     x7, x6, x2
    and     x8, x7, x3
    add     x1, x1, #1
    subs    x0, x0, #1
    b.ne    1b
    psci_system_off
