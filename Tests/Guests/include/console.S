// console.S: PL011 output routines shared by the check-list guests (#include it in .text).
// Needs UART_BASE, UARTDR, UARTFR and UARTFR_TXFF_BIT defined by the guest (.equ).

// putc: w0 = character. Clobbers x1, x2.
putc:
    movz    x1, #(UART_BASE >> 16), lsl #16
1:  ldr     w2, [x1, #UARTFR]
    tbnz    w2, #UARTFR_TXFF_BIT, 1b
    strb    w0, [x1, #UARTDR]
    ret

// puts: x0 = NUL-terminated string. Clobbers x0-x3.
puts:
    stp     x29, x30, [sp, #-16]!
    mov     x3, x0
1:  ldrb    w0, [x3], #1
    cbz     w0, 2f
    bl      putc
    b       1b
2:  ldp     x29, x30, [sp], #16
    ret

// puthex: prints x0 as "0x" and its hex digits without leading zeros.
// Clobbers x0-x6.
puthex:
    stp     x29, x30, [sp, #-16]!
    mov     x4, x0
    mov     w0, #'0'
    bl      putc
    mov     w0, #'x'
    bl      putc
    mov     x5, #60                 // shift of the current digit
1:  cbz     x5, 2f                  // skip leading zero digits (not the last)
    lsr     x6, x4, x5
    cbnz    x6, 2f
    sub     x5, x5, #4
    b       1b
2:  lsr     x6, x4, x5
    and     x6, x6, #0xf
    cmp     x6, #10
    add     x0, x6, #'0'
    b.lo    3f
    add     x0, x6, #('a' - 10)
3:  bl      putc
    cbz     x5, 4f
    sub     x5, x5, #4
    b       2b
4:  ldp     x29, x30, [sp], #16
    ret
