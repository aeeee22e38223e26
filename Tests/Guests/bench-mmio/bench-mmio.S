// bench-mmio: 2,000,000 reads of GICD_IIDR (0x08000008), each an MMIO exit emulated by the
// highvisor's virtual GICv3 distributor, then PSCI SYSTEM_OFF. scripts/bench times it against
// bench-empty: (time - empty) / 2e6 = one MMIO read exit.
#include "psci.S"
    .text
    .global _start
_start:
    movz    x19, #0x001e, lsl #16
    movk    x19, #0x8480              // 2,000,000
    movz    x1, #0x0800, lsl #16
1:  ldr     w2, [x1, #8]
    subs    x19, x19, #1
    b.ne    1b
    psci_system_off
