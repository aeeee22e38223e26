// bench-empty: PSCI SYSTEM_OFF at once — the start-up and shut-down time scripts/bench
// subtracts from the bench-hvc, bench-mmio and bench-eoi times.
#include "psci.S"
    .text
    .global _start
_start:
    psci_system_off
