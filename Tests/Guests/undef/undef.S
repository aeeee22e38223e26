// undef.S - bare-metal AArch64 guest that checks undefined-instruction traps.
//
// Installs a VBAR_EL1 vector table, executes a permanently undefined
// instruction (UDF #0 = 0x00000000), and in the current-EL/SPx synchronous
// handler checks ESR_EL1 == 0x02000000 (EC 0 "unknown reason", IL set).
// Prints "UNDEF trapped" or "bad ESR", then powers off with PSCI SYSTEM_OFF.
// Uses only the instruction subset the armvisor emulator implements.

#include "psci.S"

    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5

    .section .text.boot, "ax"
    .global _start
_start:
    adr     x0, stack_top
    add     sp, x0, #0
    adr     x0, vectors
    msr     vbar_el1, x0
    .word   0x00000000              // UDF #0 -> synchronous exception
    adr     x0, msg_noexc           // only reached if nothing trapped
    bl      puts
    b       system_off

sync_handler:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    movz    x3, #0x0200, lsl #16    // EC = 0, IL = 1
    cmp     x1, x3
    b.ne    1f
    adr     x0, msg_ok
    b       2f
1:  adr     x0, msg_bad
2:  bl      puts

system_off:
    psci_system_off

// puts: x0 = address of NUL-terminated string. Clobbers x0-x3.
puts:
    movz    x1, #(UART_BASE >> 16), lsl #16
4:  ldrb    w2, [x0]
    cbz     w2, 6f
5:  ldr     w3, [x1, #UARTFR]
    tbnz    w3, #UARTFR_TXFF_BIT, 5b
    strb    w2, [x1, #UARTDR]
    add     x0, x0, #1
    b       4b
6:  ret

msg_ok:
    .asciz  "UNDEF trapped\n"
msg_bad:
    .asciz  "bad ESR\n"
msg_noexc:
    .asciz  "no exception taken\n"

// Exception vector table: 16 entries of 0x80 bytes, 2 KiB aligned.
    .balign 2048
vectors:
    .rept 4                          // 0x000-0x180: current EL, SP0
    b       .
    .balign 0x80
    .endr
    b       sync_handler             // 0x200: current EL, SPx, synchronous
    .balign 0x80
    .rept 11                         // 0x280-0x780: everything else
    b       .
    .balign 0x80
    .endr

    .bss
    .balign 16
stack:
    .space  4096
stack_top:
