// bench-call: the call/return benchmark of scripts/bench. Each iteration calls a function
// that builds a stack frame (STP/LDP of FP and LR with writeback) and calls a leaf: 10
// instructions, 20,000,000 iterations (200 M instructions). MMU off, no MMIO.
#include "psci.S"
    .text
    .global _start
_start:
    adr     x1, stack_top
    mov     sp, x1
    movz    x0, #0x2d00             // 20,000,000 = 0x01312D00
    movk    x0, #0x0131, lsl #16
1:
    bl      outer
    subs    x0, x0, #1
    b.ne    1b
    psci_system_off

outer:
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    bl      leaf
    ldp     x29, x30, [sp], #16
    ret

leaf:
    add     x2, x2, #1
    ret

    .balign 4096
    .space  4096
stack_top:
