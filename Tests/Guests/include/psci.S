// psci_system_off: PSCI SYSTEM_OFF (function 0x84000008) through HVC, the conduit of the
// `virt` board's /psci node; if it ever returns, wait forever. (Arm DEN 0022, PSCI 1.0.)
    .macro psci_system_off
    movz    w0, #0x0008
    movk    w0, #0x8400, lsl #16
    hvc     #0
999:
    wfi
    b       999b
    .endm

// psci_system_reset: PSCI SYSTEM_RESET (function 0x84000009) through HVC; if it ever returns,
// wait forever.
    .macro psci_system_reset
    movz    w0, #0x0009
    movk    w0, #0x8400, lsl #16
    hvc     #0
998:
    wfi
    b       998b
    .endm
