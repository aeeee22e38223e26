// bench-tlb-miss: a TLB miss every iteration. The first 80 MiB of RAM are identity-mapped with
// 4 KB pages (MMU on); the loop loads from a new page each iteration, walking 64 MiB (16,384
// pages, 16 times more than armvisor's TLB holds, and more than QEMU's) before wrapping:
// 6 instructions per iteration, 20,000,000 iterations (120 M instructions, plus the set-up).
// Needs at least 80 MiB of RAM (the default is 128 MiB).
#include "psci.S"
#include "mmu-identity.S"
    .text
    .global _start
_start:
    mmu_identity_on tables, 20480
    movz    x1, #0x4100, lsl #16    // 0x41000000: 16 MiB into RAM
    movz    x9, #0x03ff, lsl #16    // wrap mask for 64 MiB, page aligned
    movk    x9, #0xf000
    movz    x0, #0x2d00             // 20,000,000 = 0x01312D00
    movk    x0, #0x0131, lsl #16
    movz    x8, #0
1:
    ldr     x2, [x1, x8]
    add     x8, x8, #0x1000
    and     x8, x8, x9
    add     x3, x3, x2
    subs    x0, x0, #1
    b.ne    1b
    psci_system_off

    .balign 4096
tables:
    .space  0x2000 + 40 * 0x1000
