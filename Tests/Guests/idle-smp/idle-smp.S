// idle-smp: brings every secondary vCPU up with PSCI CPU_ON (until INVALID_PARAMETERS), and
// then every vCPU sleeps in WFI forever with no interrupt armed — an idle SMP guest.
// scripts/bench measures the host CPU an idle 4-vCPU VM costs; it never powers off.
#include "psci.S"
    .text
    .global _start
_start:
    mov     x19, #1
1:  mov     x1, x19
    adr     x2, idle
    mov     x3, #0
    psci_cpu_on
    cbnz    x0, idle                  // INVALID_PARAMETERS: no more CPUs
    add     x19, x19, #1
    b       1b
idle:
    wfi
    b       idle
