// smp-cpu.S: `setup_cpu`, shared by the SMP guests. x0 = CPU index: SP = `stacks` + 1 KiB ×
// (index + 1) (each CPU's 1 KiB stack grows down below its slot's end), VBAR_EL1 = `vectors`.
// Clobbers x1, x2. The guest provides `stacks` (1 KiB per CPU) and `vectors`.
setup_cpu:
    adr     x1, stacks
    add     x2, x0, #1
    add     x1, x1, x2, lsl #10
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    ret
