// bench-hvc: 2,000,000 null hypercalls — HVC #0 with an SMCCC function ID nobody implements
// (0x8600ffff), answered NOT_SUPPORTED by the highvisor — then PSCI SYSTEM_OFF. scripts/bench
// times it against bench-empty: (time - empty) / 2e6 = one HVC exit and return.
#include "psci.S"
    .text
    .global _start
_start:
    movz    x19, #0x001e, lsl #16
    movk    x19, #0x8480              // 2,000,000
1:  movz    w0, #0xffff
    movk    w0, #0x8600, lsl #16
    hvc     #0
    subs    x19, x19, #1
    b.ne    1b
    psci_system_off
