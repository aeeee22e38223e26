// start.S: entry of the vgic guest (freestanding C, vgic.c): a stack, the EL1 vectors, main(),
// then PSCI SYSTEM_OFF (Tests/Guests/include/c-start.S). The IRQ vector (current EL, SPx) saves
// the caller-saved registers and ELR_EL1/SPSR_EL1 (so the C handler may unmask IRQs and be
// preempted by a higher-priority interrupt), calls handle_irq(), and returns.
#include "c-start.S"
    c_entry

    .text
    .global vectors
#include "irq-vectors.S"

irq_handler:
    sub     sp, sp, #192
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x30, [sp, #144]
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x0, x1, [sp, #160]
    bl      handle_irq
    msr     daifset, #2
    ldp     x0, x1, [sp, #160]
    msr     elr_el1, x0
    msr     spsr_el1, x1
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x30, [sp, #144]
    add     sp, sp, #192
    eret
