// start.S: entry of the pflash guest (a freestanding C program): a stack, main(), then PSCI
// SYSTEM_OFF.
#include "psci.S"
    .section .text.boot
    .global _start
_start:
    adr     x0, stack_top
    mov     sp, x0
    bl      main
    psci_system_off

    .bss
    .balign 16
stack:
    .space  16384
stack_top:
