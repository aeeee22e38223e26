// irq-vectors.S: an EL1 vector table (VBAR_EL1 = `vectors`) whose only live entry is the
// current-EL, SPx IRQ vector (+0x280), which branches to the guest's `irq_handler`; every other
// vector spins in place (Arm ARM D1.10.2 vector offsets).
    .balign 0x800
vectors:
    .rept 5
    .balign 0x80
    b       .
    .endr
    .balign 0x80
    b       irq_handler
    .rept 10
    .balign 0x80
    b       .
    .endr
