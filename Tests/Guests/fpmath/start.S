// start.S: entry of the fpmath guest (a freestanding C program with FP/SIMD code): FP/SIMD
// enabled at EL1 (CPACR_EL1.FPEN = 0b11, then an ISB), a stack, main(), then PSCI SYSTEM_OFF.
#include "psci.S"
    .section .text.boot
    .global _start
_start:
    mrs     x0, cpacr_el1
    orr     x0, x0, #(3 << 20)
    msr     cpacr_el1, x0
    isb
    adr     x0, stack_top
    mov     sp, x0
    bl      main
    psci_system_off

    .bss
    .balign 16
stack:
    .space  16384
stack_top:
