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

// psci_cpu_on: PSCI CPU_ON (SMC64 function 0xC4000003) through HVC: x1 = target MPIDR, x2 = entry
// point, x3 = context ID; the result in x0 (0 SUCCESS, negative on error).
    .macro psci_cpu_on
    movz    w0, #0x0003
    movk    w0, #0xc400, lsl #16
    hvc     #0
    .endm

// psci_cpu_off: PSCI CPU_OFF (function 0x84000002) through HVC; it does not return (if it ever
// did, wait forever).
    .macro psci_cpu_off
    movz    w0, #0x0002
    movk    w0, #0x8400, lsl #16
    hvc     #0
997:
    b       997b
    .endm
