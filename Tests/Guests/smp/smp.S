// smp: PSCI power management and SMP on the `virt` board (run with 4 vCPUs and GICv3).
// The boot CPU counts the CPUs with AFFINITY_INFO, brings the secondaries up with CPU_ON, and
// every CPU then increments two shared counters N times: one with a load-acquire/store-release
// exclusive loop, one under an exclusive-based spinlock. Secondaries power themselves off with
// CPU_OFF. Then three CPUs race CPU_ON for the same target, and two CPUs exchange SGIs through
// the GICv3 (ICC_SGI1R_EL1), the receiver sleeping in WFI. Checks (PASS/FAIL lines, then DONE):
//   psci_version       PSCI_VERSION = 1.x
//   features_cpu_on    PSCI_FEATURES(CPU_ON) = SUCCESS
//   cpu_count          AFFINITY_INFO finds 4 CPUs (INVALID_PARAMETERS for MPIDR 4)
//   affinity_off       a secondary is OFF before CPU_ON
//   cpu_on_invalid     CPU_ON of MPIDR 0x7f = INVALID_PARAMETERS
//   cpu_on_self        CPU_ON of the caller = ALREADY_ON
//   cpu_on             CPU_ON of every secondary = SUCCESS
//   affinity_on        right after CPU_ON, the target is ON or ON_PENDING (QEMU 7.2 still says
//                      OFF and prints SKIP)
//   context_id         each secondary started with its context ID in x0
//   atomic_total       the exclusive-loop counter = 4 N exactly
//   locked_total       the spinlock-protected counter = 4 N exactly
//   cpu_off            every secondary reaches OFF after CPU_OFF
//   concurrent_cpu_on  3 simultaneous CPU_ONs of one target: exactly one SUCCESS, the others
//                      ALREADY_ON or ON_PENDING, and the target ran once (it stays on until
//                      all three calls have returned; QEMU 7.2 may let two succeed, and then
//                      prints SKIP)
//   sgi_to_cpu1        CPU 0 -> CPU 1 SGI 1 wakes CPU 1 from WFI, IAR1 = 1
//   sgi_to_cpu0        CPU 1 -> CPU 0 SGI 2 wakes CPU 0 from WFI, IAR1 = 2
// (Arm DEN0022 PSCI 1.0; Arm ARM B2.9 exclusives; Arm IHI 0069 GICv3 12.2.x ICC_SGI1R_EL1.)
#include "psci.S"
    .equ UART_BASE,  0x09000000
    .equ UARTDR,     0x00
    .equ UARTFR,     0x18
    .equ UARTFR_TXFF_BIT, 5
    .equ N,          5000
    .equ CPUS,       4
    .equ REC_NAME,   0
    .equ REC_FAILED, 8
    .equ REC_MODE,   16

#include "check-macros.S"

    // psci_call: x0-x3 arguments, result in x0.
    .macro psci_call
    hvc     #0
    .endm

    .text
    .global _start
_start:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    bl      setup_cpu
    adr     x28, rec

    begin   "psci_version"
    movz    w0, #0x0000
    movk    w0, #0x8400, lsl #16
    psci_call
    lsr     x0, x0, #16               // major version 1 (QEMU 7.2 says 1.1, armvisor 1.0)
    expect  x0, 1
    bl      check_end

    begin   "features_cpu_on"
    movz    w0, #0x000a
    movk    w0, #0x8400, lsl #16
    movz    w1, #0x0003
    movk    w1, #0xc400, lsl #16
    psci_call
    expect  x0, 0
    bl      check_end

    // Count the CPUs: AFFINITY_INFO(i, 0) until INVALID_PARAMETERS.
    begin   "cpu_count"
    mov     x19, #1
1:  mov     x1, x19
    bl      affinity_info
    cmn     x0, #2
    b.eq    2f
    add     x19, x19, #1
    cmp     x19, #16
    b.lo    1b
2:  expect  x19, CPUS
    bl      check_end

    begin   "affinity_off"
    mov     x1, #1
    bl      affinity_info
    expect  x0, 1
    bl      check_end

    begin   "cpu_on_invalid"
    mov     x1, #0x7f
    adr     x2, secondary_entry
    mov     x3, #0
    bl      cpu_on
    expect  x0, -2
    bl      check_end

    begin   "cpu_on_self"
    mov     x1, #0
    adr     x2, secondary_entry
    mov     x3, #0
    bl      cpu_on
    expect  x0, -4
    bl      check_end

    // Bring up every secondary with context ID 0x100 + i; OR the results together.
    begin   "cpu_on"
    mov     x20, #1
    mov     x21, #0
3:  mov     x1, x20
    adr     x2, secondary_entry
    add     x3, x20, #0x100
    bl      cpu_on
    orr     x21, x21, x0
    add     x20, x20, #1
    cmp     x20, x19
    b.lo    3b
    expect  x21, 0
    bl      check_end

    mov     x1, #1
    bl      affinity_info
    cmp     x0, #1
    b.ne    14f
    cstring x0, "SKIP affinity_on (OFF right after a successful CPU_ON: QEMU 7.2 reports that)\n"
    bl      puts
    b       15f
14: mov     x21, x0
    begin   "affinity_on"
    bic     x0, x21, #2               // ON (0) or ON_PENDING (2)
    expect  x0, 0
    bl      check_end
15:

    bl      work
    // Wait for the secondaries to finish their share.
    adr     x2, finished
    sub     x3, x19, #1
4:  ldar    x4, [x2]
    cmp     x4, x3
    b.lo    4b

    begin   "context_id"
    mov     x20, #1
    mov     x21, #0
    adr     x22, arrived
5:  ldr     x4, [x22, x20, lsl #3]
    add     x5, x20, #0x100
    eor     x4, x4, x5
    orr     x21, x21, x4
    add     x20, x20, #1
    cmp     x20, x19
    b.lo    5b
    expect  x21, 0
    bl      check_end

    begin   "atomic_total"
    ldr     x4, counter_atomic
    expect  x4, CPUS * N
    bl      check_end

    begin   "locked_total"
    ldr     x4, counter_locked
    expect  x4, CPUS * N
    bl      check_end

    begin   "cpu_off"
    mov     x20, #1
6:  mov     x1, x20
    bl      affinity_info
    cmp     x0, #1
    b.ne    6b                        // not OFF yet: ask again
    add     x20, x20, #1
    cmp     x20, x19
    b.lo    6b
    expect  x0, 1
    bl      check_end

    // Concurrent CPU_ON: CPUs 1 and 2 start as racers; with CPU 0 they all turn on CPU 3.
    mov     x20, #1
7:  mov     x1, x20
    adr     x2, racer_entry
    mov     x3, #0
    bl      cpu_on
    add     x20, x20, #1
    cmp     x20, #3
    b.lo    7b
    adr     x2, racers_ready
8:  ldar    x4, [x2]
    cmp     x4, #2
    b.lo    8b
    mov     x4, #1
    adr     x2, go
    stlr    x4, [x2]
    bl      race
    adr     x2, racers_done
9:  ldar    x4, [x2]
    cmp     x4, #2
    b.lo    9b
    mov     x20, #1                   // racers and target all back to OFF
10: mov     x1, x20
    bl      affinity_info
    cmp     x0, #1
    b.ne    10b
    add     x20, x20, #1
    cmp     x20, #4
    b.lo    10b
    ldr     x4, on_success
    cmp     x4, #1
    b.ls    16f
    cstring x0, "SKIP concurrent_cpu_on (more than one CPU_ON succeeded: QEMU 7.2 does that)\n"
    bl      puts
    b       17f
16: begin   "concurrent_cpu_on"
    ldr     x4, on_success
    expect  x4, 1
    ldr     x4, on_other
    expect  x4, 2
    ldr     x4, on_bad
    expect  x4, 0
    ldr     x4, victim_runs
    expect  x4, 1
    bl      check_end
17:

    // SGIs between CPU 0 and CPU 1 (GICv3, affinity routing).
    bl      gicv3_distributor_on      // x1 = GICD
    mov     x0, #0
    bl      setup_gic_cpu
    mov     x1, #1
    adr     x2, sgi_entry
    mov     x3, #0
    bl      cpu_on
    adr     x2, cpu1_ready
11: ldar    x4, [x2]
    cbz     x4, 11b
    movz    x0, #(1 << 8), lsl #16    // INTID 1 [27:24] = 0x01000000
    orr     x0, x0, #2                // TargetList: Aff0 = 1
    msr     icc_sgi1r_el1, x0
    isb
    adr     x2, irq_seen              // CPU 0's slot
    bl      wait_for_irq
    adr     x2, irq_seen + 8
13: ldar    x4, [x2]                  // CPU 1's slot (written before it sent SGI 2)
    cbz     x4, 13b
    adr     x2, irq_seen
    begin   "sgi_to_cpu1"
    ldr     x4, [x2, #8]
    expect  x4, 1
    bl      check_end
    begin   "sgi_to_cpu0"
    adr     x2, irq_seen
    ldr     x4, [x2]
    expect  x4, 2
    bl      check_end

    cstring x0, "DONE\n"
    bl      puts
    psci_system_off

#include "smp-cpu.S"

// setup_gic_cpu: x0 = CPU index. Wakes its redistributor, makes its SGIs/PPIs group 1 with
// priority 0x80 and enables SGIs 1 and 2, then turns on the system-register CPU interface.
setup_gic_cpu:
    stp     x29, x30, [sp, #-16]!
    bl      gicv3_wake_redistributor
    add     x3, x1, #SGI_BASE
    mov     w2, #-1
    str     w2, [x3, #0x80]           // IGROUPR0: all group 1
    movz    w2, #0x8080
    movk    w2, #0x8080, lsl #16
    str     w2, [x3, #0x400]          // IPRIORITYR0: SGIs 0-3 = 0x80
    mov     w2, #6
    str     w2, [x3, #0x100]          // ISENABLER0: SGIs 1 and 2
    bl      gicv3_cpu_interface_on
    ldp     x29, x30, [sp], #16
    ret

// cpu_on: x1 = target MPIDR, x2 = entry, x3 = context ID; x0 = result.
cpu_on:
    psci_cpu_on
    ret

// affinity_info: x1 = target MPIDR (level 0); x0 = result.
affinity_info:
    movz    w0, #0x0004
    movk    w0, #0xc400, lsl #16
    mov     x2, #0
    hvc     #0
    ret

// cpu_off: PSCI CPU_OFF; does not return.
cpu_off:
    psci_cpu_off

// atomic_inc: x2 = address. Clobbers x3, x4.
atomic_inc:
1:  ldaxr   x3, [x2]
    add     x3, x3, #1
    stlxr   w4, x3, [x2]
    cbnz    w4, 1b
    ret

// work: N increments of counter_atomic (exclusive loop) and of counter_locked (under lock).
work:
    mov     x8, #N
1:  adr     x2, counter_atomic
2:  ldaxr   x3, [x2]
    add     x3, x3, #1
    stlxr   w4, x3, [x2]
    cbnz    w4, 2b
    adr     x5, lock
3:  ldaxr   x6, [x5]
    cbnz    x6, 3b
    mov     x6, #1
    stxr    w4, x6, [x5]
    cbnz    w4, 3b
    adr     x2, counter_locked
    ldr     x3, [x2]
    add     x3, x3, #1
    str     x3, [x2]
    stlr    xzr, [x5]
    subs    x8, x8, #1
    b.ne    1b
    ret

// race: CPU_ON(3, victim_entry); counts SUCCESS in on_success and ALREADY_ON/ON_PENDING in
// on_other.
race:
    stp     x29, x30, [sp, #-16]!
    mov     x1, #3
    adr     x2, victim_entry
    mov     x3, #0
    bl      cpu_on
    mov     x9, x0
    adr     x2, race_calls
    bl      atomic_inc
    mov     x0, x9
    adr     x2, on_success
    cbz     x0, 1f
    adr     x2, on_other
    cmn     x0, #4
    b.eq    1f
    cmn     x0, #5
    b.eq    1f
    adr     x2, on_bad
1:  bl      atomic_inc
    ldp     x29, x30, [sp], #16
    ret

secondary_entry:
    mov     x19, x0
    mrs     x0, mpidr_el1
    and     x20, x0, #0xff
    mov     x0, x20
    bl      setup_cpu
    adr     x2, arrived
    str     x19, [x2, x20, lsl #3]
    bl      work
    adr     x2, finished
    bl      atomic_inc
    b       cpu_off

racer_entry:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    bl      setup_cpu
    adr     x2, racers_ready
    bl      atomic_inc
    adr     x2, go
1:  ldar    x4, [x2]
    cbz     x4, 1b
    bl      race
    adr     x2, racers_done
    bl      atomic_inc
    b       cpu_off

victim_entry:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    bl      setup_cpu
    adr     x2, victim_runs
    bl      atomic_inc
    adr     x2, race_calls
1:  ldar    x4, [x2]
    cmp     x4, #3
    b.lo    1b
    b       cpu_off

sgi_entry:
    mov     x0, #1
    bl      setup_cpu
    mov     x0, #1
    bl      setup_gic_cpu
    mov     x4, #1
    adr     x2, cpu1_ready
    stlr    x4, [x2]
    adr     x2, irq_seen + 8          // CPU 1's slot
    bl      wait_for_irq
    movz    x0, #(2 << 8), lsl #16    // INTID 2
    orr     x0, x0, #1                // TargetList: Aff0 = 0
    msr     icc_sgi1r_el1, x0
    isb
    b       cpu_off

// wait_for_irq: x2 = this CPU's irq_seen slot. Sleeps in WFI with IRQs masked until the slot
// is set, taking each pending IRQ in a short unmasked window (WFI wakes for a pending
// interrupt even while PSTATE.I masks it), so no interrupt can slip in between the test and
// the WFI. Clobbers x4.
wait_for_irq:
    msr     daifset, #2
1:  ldr     x4, [x2]
    cbnz    x4, 2f
    wfi
    msr     daifclr, #2
    isb
    msr     daifset, #2
    b       1b
2:  ret

// IRQ (current EL, SPx): acknowledge, record the INTID in irq_seen[cpu], end it.
irq_handler:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x3, [sp, #-16]!
    mrs     x0, icc_iar1_el1
    mrs     x1, mpidr_el1
    and     x1, x1, #0xff
    adr     x2, irq_seen
    str     x0, [x2, x1, lsl #3]
    msr     icc_eoir1_el1, x0
    ldp     x2, x3, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

#include "console.S"
#include "gicv3.S"
#include "checks.S"
    .ltorg

#include "irq-vectors.S"

    .balign 64
rec:            .space 32
counter_atomic: .quad 0
    .balign 64
counter_locked: .quad 0
    .balign 64
lock:           .quad 0
finished:       .quad 0
arrived:        .space 8 * 16
racers_ready:   .quad 0
racers_done:    .quad 0
go:             .quad 0
on_success:     .quad 0
on_other:       .quad 0
on_bad:         .quad 0
victim_runs:    .quad 0
race_calls:     .quad 0
cpu1_ready:     .quad 0
irq_seen:       .space 8 * 16
    .balign 16
stacks:         .space 1024 * 16
