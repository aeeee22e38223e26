// powerbutton: the board's PL031 RTC and the power button on PL061 pin 3, through the
// virtual GICv3. Checks the RTC's PrimeCell identification and that RTCDR holds a plausible
// wall-clock time, then sets up the GIC (distributor, redistributor, CPU interface) with SPI 7
// (INTID 39, the PL061's GPIOINTR) enabled and routed to this CPU, enables a rising-edge
// interrupt on GPIO line 3, prints READY and sleeps in WFI. When the power button is pressed
// (`armvisor stop`; QEMU's `system_powerdown`), the IRQ handler acknowledges INTID 39,
// reads GPIOMIS and the line through the masked GPIODATA address, clears the edge with
// GPIOIC and ends the interrupt; the guest then powers off through PSCI SYSTEM_OFF. Lines:
//   PASS rtc_id       RTCPeriphID = 0x00141031, RTCPCellID = 0xB105F00D
//   PASS rtc_time     RTCDR is after 2024-01-01 (1704067200) and RTCCR reads 1
//   READY             the guest waits for the button
//   PASS gpio_irq     the IRQ taken was INTID 39
//   PASS gpio_mis     GPIOMIS read 0x08 (line 3) in the handler
//   PASS gpio_data    GPIODATA through address mask 0x08 read 0x08 (line 3 high)
//   DONE
// (Arm DDI 0224 PL031, DDI 0190 PL061, IHI 0069 GICv3; QEMU hw/arm/virt.c.)
#include "psci.S"
    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5
    .equ RTC,        0x09010000
    .equ GPIO,       0x09030000
    .equ GPIO_SPI_INTID, 39

    .macro say label
    adr     x0, \label
    bl      puts
    .endm

    // Reads the four ID bytes at \base + \offset .. +0xc into w0 (byte 0 lowest).
    .macro read_id base, offset
    movz    x1, #(\base >> 16), lsl #16
    add     x1, x1, #\offset
    mov     w0, #0
    ldr     w2, [x1, #12]
    orr     w0, w0, w2, lsl #24
    ldr     w2, [x1, #8]
    orr     w0, w0, w2, lsl #16
    ldr     w2, [x1, #4]
    orr     w0, w0, w2, lsl #8
    ldr     w2, [x1]
    orr     w0, w0, w2
    .endm

    .text
    .global _start
_start:
    adr     x0, stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    isb

    // RTC identification.
    read_id RTC, 0xfe0
    movz    w3, #0x1031
    movk    w3, #0x0014, lsl #16
    cmp     w0, w3
    b.ne    1f
    read_id RTC, 0xff0
    movz    w3, #0xf00d
    movk    w3, #0xb105, lsl #16
    cmp     w0, w3
    b.ne    1f
    say     pass_rtc_id
    b       2f
1:  say     fail_rtc_id
2:  movz    x1, #(RTC >> 16), lsl #16
    ldr     w0, [x1]                  // RTCDR
    movz    w3, #0x0080
    movk    w3, #0x6592, lsl #16      // 1704067200
    cmp     w0, w3
    b.lo    3f
    ldr     w0, [x1, #0x0c]           // RTCCR
    cmp     w0, #1
    b.ne    3f
    say     pass_rtc_time
    b       4f
3:  say     fail_rtc_time
4:
    // Distributor on; SPI 7 = INTID 39: group 1, priority 0x80, level, routed to affinity 0.0.0.0, enabled.
    bl      gicv3_distributor_on
    mov     x0, #GPIO_SPI_INTID
    bl      gicv3_enable_spi
    // Redistributor: wake it up. CPU interface on.
    mov     x0, #0
    bl      gicv3_wake_redistributor
    bl      gicv3_cpu_interface_on
    // PL061: line 3 an input (reset value), rising edge (IS = 0, IBE = 0, IEV = 1), enabled.
    movz    x1, #(GPIO >> 16), lsl #16
    movz    w2, #0x08
    str     w2, [x1, #0x40c]          // GPIOIEV
    str     w2, [x1, #0x41c]          // GPIOIC: nothing stale
    str     w2, [x1, #0x410]          // GPIOIE
    say     ready
    msr     daifclr, #2
6:  wfi
    ldr     x9, irq_count
    cbz     x9, 6b
    msr     daifset, #2

    ldr     x10, irq_intid
    cmp     x10, #GPIO_SPI_INTID
    b.ne    7f
    say     pass_irq
    b       8f
7:  say     fail_irq
8:  ldr     x10, irq_mis
    cmp     x10, #0x08
    b.ne    9f
    say     pass_mis
    b       10f
9:  say     fail_mis
10: ldr     x10, irq_data
    cmp     x10, #0x08
    b.ne    11f
    say     pass_data
    b       12f
11: say     fail_data
12: say     done
    psci_system_off

irq_handler:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x30, [sp, #-16]!
    mrs     x0, icc_iar1_el1
    adr     x1, irq_intid
    str     x0, [x1]
    movz    x1, #(GPIO >> 16), lsl #16
    ldr     w2, [x1, #0x418]          // GPIOMIS
    adr     x30, irq_mis
    str     x2, [x30]
    ldr     w2, [x1, #(0x08 << 2)]    // GPIODATA, mask = line 3
    adr     x30, irq_data
    str     x2, [x30]
    movz    w2, #0x08
    str     w2, [x1, #0x41c]          // GPIOIC
    msr     icc_eoir1_el1, x0
    adr     x1, irq_count
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    ldp     x2, x30, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

#include "console.S"
#include "gicv3.S"

#include "irq-vectors.S"

pass_rtc_id:   .asciz "PASS rtc_id\n"
fail_rtc_id:   .asciz "FAIL rtc_id\n"
pass_rtc_time: .asciz "PASS rtc_time\n"
fail_rtc_time: .asciz "FAIL rtc_time\n"
ready:         .asciz "READY\n"
pass_irq:      .asciz "PASS gpio_irq\n"
fail_irq:      .asciz "FAIL gpio_irq\n"
pass_mis:      .asciz "PASS gpio_mis\n"
fail_mis:      .asciz "FAIL gpio_mis\n"
pass_data:     .asciz "PASS gpio_data\n"
fail_data:     .asciz "FAIL gpio_data\n"
done:          .asciz "DONE\n"

    .balign 8
irq_count:   .quad 0
irq_intid:   .quad 0
irq_mis:     .quad 0
irq_data:    .quad 0
    .balign 16
stack:       .space 1024
stack_top:
