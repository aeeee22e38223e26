// bench-ldst: the load/store benchmark of scripts/bench: the loop of include/ldst-loop.S
// (12 instructions, 20,000,000 iterations: 240 M instructions, two thirds loads/stores).
// MMU off, no MMIO inside the loop.
#include "ldst-loop.S"
#include "psci.S"
    .text
    .global _start
_start:
    bench_ldst_loop buffer
    psci_system_off

    // Its own page: data sharing a page with code costs QEMU a translation flush per store.
    .balign 4096
buffer:
    .space  64
