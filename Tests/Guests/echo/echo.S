// echo: an interactive console guest for `armvisor console` and the daemon's load tests.
// Sets up the virtual GICv3 with SPI 1 (INTID 33, the PL011's UARTINTR) routed to this CPU,
// unmasks the PL011's receive interrupts (UARTIMSC.RXIM and RTIM), prints READY and sleeps in
// WFI. Each receive interrupt drains the UART's receive FIFO and echoes every byte back (a CR
// also gets an LF, as a terminal expects); `!` ends the guest: it prints BYE and powers off
// through PSCI SYSTEM_OFF; `^` reboots it: it prints REBOOT and calls PSCI SYSTEM_RESET (the
// reboot tests: a fresh instance prints READY again). Lines:
//   READY             the guest waits for input
//   <input echoed>
//   BYE               after a `!`
//   REBOOT            after a `^`
// (Arm DDI 0183 PL011: UARTFR.RXFE bit 4, UARTIMSC 0x38, UARTICR 0x44; IHI 0069 GICv3.)
#include "psci.S"
    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5
    .equ UARTFR_RXFE_BIT, 4
    .equ UARTIMSC,   0x38
    .equ UARTICR,    0x44
    .equ UART_SPI_INTID, 33

    .text
    .global _start
_start:
    adr     x0, stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    isb

    // Distributor on; SPI 1 = INTID 33: group 1, priority 0x80, routed to affinity 0.0.0.0, enabled.
    bl      gicv3_distributor_on
    mov     x0, #UART_SPI_INTID
    bl      gicv3_enable_spi
    mov     x0, #0
    bl      gicv3_wake_redistributor
    bl      gicv3_cpu_interface_on
    // PL011: receive and receive-timeout interrupts unmasked.
    movz    x1, #(UART_BASE >> 16), lsl #16
    movz    w2, #0x50
    str     w2, [x1, #UARTIMSC]
    adr     x0, ready
    bl      puts
    // Wait for `quit` with IRQs masked around the check: an interrupt that sets it between the
    // check and the WFI would otherwise leave the guest asleep until the next one. WFI wakes on
    // a pending interrupt even while it is masked; it is taken once they are unmasked.
1:  msr     daifset, #2
    ldr     x9, quit
    cbnz    x9, 7f
    wfi
    msr     daifclr, #2
    b       1b
7:  cmp     x9, #2
    b.eq    5f
    adr     x0, bye
    bl      puts
    psci_system_off
5:  adr     x0, reboot
    bl      puts
    psci_system_reset

irq_handler:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x3, [sp, #-16]!
    stp     x9, x30, [sp, #-16]!
    mrs     x9, icc_iar1_el1
    movz    x3, #(UART_BASE >> 16), lsl #16
2:  ldr     w2, [x3, #UARTFR]
    tbnz    w2, #UARTFR_RXFE_BIT, 4f
    ldr     w0, [x3, #UARTDR]
    and     w0, w0, #0xff
    cmp     w0, #'!'
    b.ne    6f
    mov     x2, #1
    adr     x1, quit
    str     x2, [x1]
    b       2b
6:  cmp     w0, #'^'
    b.ne    3f
    mov     x2, #2
    adr     x1, quit
    str     x2, [x1]
    b       2b
3:  bl      putc
    cmp     w0, #'\r'
    b.ne    2b
    mov     w0, #'\n'
    bl      putc
    b       2b
4:  movz    w2, #0x50
    str     w2, [x3, #UARTICR]
    msr     icc_eoir1_el1, x9
    ldp     x9, x30, [sp], #16
    ldp     x2, x3, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

#include "console.S"
#include "gicv3.S"

#include "irq-vectors.S"

ready:  .asciz "READY\n"
bye:    .asciz "BYE\n"
reboot: .asciz "REBOOT\n"

    .balign 8
quit:   .quad 0
    .balign 16
stack:  .space 1024
stack_top:
