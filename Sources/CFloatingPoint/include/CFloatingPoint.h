// IEEE 754 arithmetic on the host FPU under an explicit rounding mode, returning the result
// bits together with the exception flags it raised. Used by the AArch64 core's FP instructions
// (Sources/AArch64/FloatingPoint*.swift), which handle what differs between Arm and the host
// around these calls: NaN propagation, default NaN, flush-to-zero and underflow tininess.
#ifndef CFLOATINGPOINT_H
#define CFLOATINGPOINT_H

#include <stdint.h>

/// Exception flags, in the bit positions of the Arm FPSR cumulative flags.
enum {
    CFP_INVALID = 1 << 0,
    CFP_DIVIDE_BY_ZERO = 1 << 1,
    CFP_OVERFLOW = 1 << 2,
    CFP_UNDERFLOW = 1 << 3,
    CFP_INEXACT = 1 << 4,
    /// Not a host flag: the exact result's magnitude is below the smallest normal number
    /// (Arm detects tininess before rounding; x86 SSE after rounding).
    CFP_TINY = 1 << 8,
};

/// Operations. Operands a, b, c are bit patterns of the format the function works in.
enum {
    CFP_ADD,      // a + b
    CFP_SUB,      // a - b
    CFP_MUL,      // a * b
    CFP_DIV,      // a / b
    CFP_SQRT,     // sqrt(a)
    CFP_FMA,      // a * b + c, rounded once
    CFP_NARROW,   // cfp_double only: a (a double) rounded to single; the result is single bits
};

typedef struct {
    uint64_t bits;
    uint32_t flags;
} cfp_result;

/// `rmode` is FPCR.RMode: 0 to nearest (ties to even), 1 towards +infinity, 2 towards
/// -infinity, 3 towards zero.
cfp_result cfp_double(int op, uint64_t a, uint64_t b, uint64_t c, int rmode);
cfp_result cfp_single(int op, uint32_t a, uint32_t b, uint32_t c, int rmode);

/// A 64-bit integer (signed or not) converted to double or single in `rmode`.
cfp_result cfp_from_integer(uint64_t value, int is_signed, int to_double, int rmode);

#endif
