// bench-simd: the FP/SIMD benchmark of scripts/bench. Two loops, MMU off, no MMIO inside:
//   memcpy: a 4 KiB buffer copied with LDP/STP of Q registers (32 bytes per iteration, 4
//           instructions), 40,000 times: 20.5 M instructions;
//   dot:    the dot product of two 512-element double arrays with FMADD (5 instructions per
//           element), 8,000 times: 20.5 M instructions.
// The arrays are filled with SCVTF of small integers first; the result is left in d2.
#include "psci.S"
    .text
    .global _start
_start:
    mov     x0, #(3 << 20)          // CPACR_EL1.FPEN = 0b11: FP/SIMD at EL1 and EL0
    msr     cpacr_el1, x0
    isb

    // Fill the double arrays: a[i] = i, b[i] = 512 - i.
    adr     x1, array_a
    adr     x2, array_b
    mov     x3, #0
1:  scvtf   d0, x3
    mov     x4, #512
    sub     x4, x4, x3
    scvtf   d1, x4
    str     d0, [x1, x3, lsl #3]
    str     d1, [x2, x3, lsl #3]
    add     x3, x3, #1
    cmp     x3, #512
    b.ne    1b

    // memcpy: array_a (4 KiB) to copy_buffer, 40,000 times.
    movz    x5, #40000
2:  adr     x1, array_a
    adr     x2, copy_buffer
    mov     x3, #128
3:  ldp     q0, q1, [x1], #32
    stp     q0, q1, [x2], #32
    subs    x3, x3, #1
    b.ne    3b
    subs    x5, x5, #1
    b.ne    2b

    // dot: sum of a[i] * b[i], 8,000 times.
    movz    x5, #8000
4:  adr     x1, array_a
    adr     x2, array_b
    mov     x3, #512
    movi    d2, #0
5:  ldr     d0, [x1], #8
    ldr     d1, [x2], #8
    fmadd   d2, d0, d1, d2
    subs    x3, x3, #1
    b.ne    5b
    subs    x5, x5, #1
    b.ne    4b

    psci_system_off

    // Data on their own pages: data sharing a page with code costs QEMU a flush per store.
    .balign 4096
array_a:
    .space  4096
array_b:
    .space  4096
copy_buffer:
    .space  4096
