// check-macros.S: assembler macros of the check-list guests that use checks.S.
// Needs REC_NAME/REC_FAILED/REC_MODE defined (.equ) and x28 = the `rec` record.

// cstring reg, "text": reg = address of a NUL-terminated copy of text (placed inline).
    .macro cstring reg, text
    adr     \reg, 9998f
    b       9999f
9998:
    .asciz  "\text"
    .balign 4
9999:
    .endm

// begin "name": starts a check (check_begin).
    .macro begin name
    cstring x0, "\name"
    bl      check_begin
    .endm

// expect reg, value: check_eq(reg, value, "value").
    .macro expect reg, value
    mov     x0, \reg
    ldr     x1, =\value
    cstring x2, "value"
    bl      check_eq
    .endm
