// demo.S - bare-metal AArch64 demo guest for the armvisor virt board.
//
// Prints two lines on the PL011 UART and then powers the machine off with
// PSCI SYSTEM_OFF through HVC. Uses only the instruction subset the armvisor
// emulator implements (no ldp/stp, no pre/post-index, no literal loads).

    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5

    .section .text.boot, "ax"
    .global _start
_start:
    adr     x0, stack_top
    add     sp, x0, #0

    adr     x0, msg_hello
    bl      puts
    adr     x0, msg_off
    bl      puts

    // PSCI SYSTEM_OFF (function id 0x84000008)
    movz    w0, #0x0008
    movk    w0, #0x8400, lsl #16
    hvc     #0
1:  wfi
    b       1b

// puts: x0 = address of NUL-terminated string. Clobbers x0-x3.
// The putc loop is inlined so the link register is never disturbed.
puts:
    movz    x1, #(UART_BASE >> 16), lsl #16
2:  ldrb    w2, [x0]
    cbz     w2, 4f
3:  ldr     w3, [x1, #UARTFR]
    tbnz    w3, #UARTFR_TXFF_BIT, 3b
    strb    w2, [x1, #UARTDR]
    add     x0, x0, #1
    b       2b
4:  ret

msg_hello:
    .asciz  "Hello from the armvisor demo guest!\n"
msg_off:
    .asciz  "EL1 guest: powering off through PSCI\n"

    .bss
    .balign 16
stack:
    .space  4096
stack_top:
