// bench-ldst-mmu: bench-ldst with the MMU on. The first 2 MiB of RAM (image and buffer) are
// identity-mapped with 4 KB pages, then exactly the bench-ldst loop runs (include/ldst-loop.S:
// 240 M instructions, plus the set-up). scripts/bench compares it with bench-ldst: the MMU-on
// figure should be within 25 % of the MMU-off one.
#include "mmu-identity.S"
#include "ldst-loop.S"
#include "psci.S"
    .text
    .global _start
_start:
    mmu_identity_on tables, 512
    bench_ldst_loop buffer
    psci_system_off

    .balign 4096
buffer:
    .space  64
    .balign 4096
tables:
    .space  0x3000
