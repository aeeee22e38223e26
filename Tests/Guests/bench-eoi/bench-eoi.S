// bench-eoi: 20,000,000 writes of ICC_EOIR1_EL1 (INTID 1023: nothing active, so each is the
// full EOI path — priority drop search, deactivation lookup — without changing state), served
// by the core's virtual CPU interface without an exit; then PSCI SYSTEM_OFF. scripts/bench
// times it against bench-empty: (time - empty) / 2e7 = one EOI.
#include "psci.S"
    .text
    .global _start
_start:
    mrs     x0, icc_sre_el1
    orr     x0, x0, #1
    msr     icc_sre_el1, x0
    isb
    movz    x19, #0x0131, lsl #16
    movk    x19, #0x2d00              // 20,000,000
    mov     x0, #1023
1:  msr     icc_eoir1_el1, x0
    subs    x19, x19, #1
    b.ne    1b
    psci_system_off
