// checks.S: the PASS/FAIL bookkeeping shared by the check-list guests (#include it in .text).
// Needs the guest's `rec` record layout (REC_* offsets), `puts`/`putc`/`puthex`
// (console.S) and the `cstring` macro.
// Check bookkeeping. x28 = rec. These clobber x0-x9 and x30 only.

// check_begin: x0 = name.
check_begin:
    str     x0, [x28, #REC_NAME]
    str     xzr, [x28, #REC_FAILED]
    str     xzr, [x28, #REC_MODE]
    ret

// check_eq: x0 = actual, x1 = expected, x2 = field name. On a mismatch prints
// "FAIL <name>" (once per check) and " <field>=<actual> expected <expected>".
check_eq:
    cmp     x0, x1
    b.ne    1f
    ret
1:  stp     x29, x30, [sp, #-16]!
    stp     x0, x1, [sp, #-16]!
    stp     x2, x3, [sp, #-16]!
    ldr     x3, [x28, #REC_FAILED]
    cbnz    x3, 2f
    mov     x3, #1
    str     x3, [x28, #REC_FAILED]
    cstring x0, "FAIL "
    bl      puts
    ldr     x0, [x28, #REC_NAME]
    bl      puts
2:  mov     w0, #' '
    bl      putc
    ldr     x0, [sp]                // field name
    bl      puts
    mov     w0, #'='
    bl      putc
    ldr     x0, [sp, #16]           // actual
    bl      puthex
    cstring x0, " expected "
    bl      puts
    ldr     x0, [sp, #24]           // expected
    bl      puthex
    add     sp, sp, #32
    ldp     x29, x30, [sp], #16
    ret

// check_end: finishes the line: "PASS <name>\n" or the "\n" of the FAIL line.
check_end:
    stp     x29, x30, [sp, #-16]!
    ldr     x0, [x28, #REC_FAILED]
    cbnz    x0, 1f
    cstring x0, "PASS "
    bl      puts
    ldr     x0, [x28, #REC_NAME]
    bl      puts
1:  mov     w0, #'\n'
    bl      putc
    ldp     x29, x30, [sp], #16
    ret

