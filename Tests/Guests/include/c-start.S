// c-start.S: the entry of a freestanding C guest (virtio, pflash, fpmath): optionally FP/SIMD
// enabled at EL1 (CPACR_EL1.FPEN = 0b11, then an ISB), a 16 KiB stack, main(), then PSCI
// SYSTEM_OFF. Use: `#include "c-start.S"` then `c_entry` (or `c_entry fp=1`).
#include "psci.S"

    .macro c_entry fp=0
    .section .text.boot
    .global _start
_start:
    .if \fp
    mrs     x0, cpacr_el1
    orr     x0, x0, #(3 << 20)
    msr     cpacr_el1, x0
    isb
    .endif
    adr     x0, stack_top
    mov     sp, x0
    bl      main
    psci_system_off

    .bss
    .balign 16
stack:
    .space  16384
stack_top:
    .endm
