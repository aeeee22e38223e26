// Why C: Swift has no FENV_ACCESS, so the Swift compiler may move arithmetic across a
// rounding-mode change or a flag read. Here `#pragma STDC FENV_ACCESS ON` makes clang treat
// the FP environment as observable (constrained FP intrinsics), and the operands pass
// through volatile locals so no operation is constant-folded or hoisted.
#pragma STDC FENV_ACCESS ON

#include "CFloatingPoint.h"

#include <fenv.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
// On x86-64 all float/double arithmetic (and libm's sqrt and fma) is SSE, controlled by MXCSR
// alone: reading and writing it directly costs a few cycles, where glibc's fenv functions also
// save and restore the x87 environment (feclearexcept alone was 38 % of an FP benchmark).
#include <xmmintrin.h>

typedef unsigned int fp_state;

/// MXCSR.RC for Arm RMode: nearest, +inf (RC 10), -inf (RC 01), zero.
static const unsigned int mxcsr_modes[4] = {0x0000, 0x4000, 0x2000, 0x6000};

/// Enters `rmode` with no exception flags set and with DAZ (bit 6) and FTZ (bit 15) off, so
/// denormals are IEEE whatever the host thread had (Arm FZ is applied around these calls);
/// returns what to restore.
static fp_state env_begin(int rmode) {
    fp_state saved = _mm_getcsr();
    _mm_setcsr((saved & ~0xE07Fu) | mxcsr_modes[rmode & 3]);
    return saved;
}

static void env_set_mode(int rmode) { _mm_setcsr((_mm_getcsr() & ~0x6000u) | mxcsr_modes[rmode & 3]); }

static uint32_t env_flags(void) {
    unsigned int raised = _mm_getcsr();
    uint32_t flags = 0;
    if (raised & 0x01) flags |= CFP_INVALID;
    if (raised & 0x04) flags |= CFP_DIVIDE_BY_ZERO;
    if (raised & 0x08) flags |= CFP_OVERFLOW;
    if (raised & 0x10) flags |= CFP_UNDERFLOW;
    if (raised & 0x20) flags |= CFP_INEXACT;
    return flags;
}

static void env_end(fp_state saved) { _mm_setcsr(saved); }
#else
typedef int fp_state;

static const int host_modes[4] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};

static fp_state env_begin(int rmode) {
    fp_state saved = fegetround();
    fesetround(host_modes[rmode & 3]);
    feclearexcept(FE_ALL_EXCEPT);
    return saved;
}

static void env_set_mode(int rmode) { fesetround(host_modes[rmode & 3]); }

static uint32_t env_flags(void) {
    int raised = fetestexcept(FE_ALL_EXCEPT);
    uint32_t flags = 0;
    if (raised & FE_INVALID) flags |= CFP_INVALID;
    if (raised & FE_DIVBYZERO) flags |= CFP_DIVIDE_BY_ZERO;
    if (raised & FE_OVERFLOW) flags |= CFP_OVERFLOW;
    if (raised & FE_UNDERFLOW) flags |= CFP_UNDERFLOW;
    if (raised & FE_INEXACT) flags |= CFP_INEXACT;
    return flags;
}

static void env_end(fp_state saved) {
    fesetround(saved);
    feclearexcept(FE_ALL_EXCEPT);
}
#endif

static double compute_double(int op, double x, double y, double z) {
    volatile double a = x, b = y, c = z;
    switch (op) {
    case CFP_ADD: return a + b;
    case CFP_SUB: return a - b;
    case CFP_MUL: return a * b;
    case CFP_DIV: return a / b;
    case CFP_SQRT: return sqrt(a);
    default: return fma(a, b, c);
    }
}

static float compute_single(int op, float x, float y, float z) {
    volatile float a = x, b = y, c = z;
    switch (op) {
    case CFP_ADD: return a + b;
    case CFP_SUB: return a - b;
    case CFP_MUL: return a * b;
    case CFP_DIV: return a / b;
    case CFP_SQRT: return sqrtf(a);
    default: return fmaf(a, b, c);
    }
}

/// Runs `compute` in `rmode` and again towards zero when needed to tell whether the exact
/// result was tiny: a result that rounded to the smallest normal magnitude was tiny before
/// rounding exactly when rounding towards zero gives a denormal.
cfp_result cfp_double(int op, uint64_t a, uint64_t b, uint64_t c, int rmode) {
    double x, y, z;
    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    memcpy(&z, &c, 8);
    fp_state saved = env_begin(rmode);
    cfp_result result;
    uint32_t tiny = 0;
    if (op == CFP_NARROW) {
        volatile double wide = x;
        volatile float narrow = (float)wide;
        float r = narrow;
        uint32_t bits;
        memcpy(&bits, &r, 4);
        result.bits = bits;
        result.flags = env_flags();
        float magnitude = fabsf(r);
        if (magnitude < 0x1p-126f && (magnitude != 0 || (result.flags & CFP_INEXACT))) {
            tiny = CFP_TINY;
        } else if (magnitude == 0x1p-126f && (result.flags & CFP_INEXACT)) {
            env_set_mode(3);
            volatile float truncated = (float)wide;
            if (fabsf(truncated) < 0x1p-126f) tiny = CFP_TINY;
        }
    } else {
        double r = compute_double(op, x, y, z);
        memcpy(&result.bits, &r, 8);
        result.flags = env_flags();
        double magnitude = fabs(r);
        if (magnitude < 0x1p-1022 && (magnitude != 0 || (result.flags & CFP_INEXACT))) {
            tiny = CFP_TINY;
        } else if (magnitude == 0x1p-1022 && (result.flags & CFP_INEXACT)) {
            env_set_mode(3);
            if (fabs(compute_double(op, x, y, z)) < 0x1p-1022) tiny = CFP_TINY;
        }
    }
    env_end(saved);
    result.flags |= tiny;
    return result;
}

cfp_result cfp_single(int op, uint32_t a, uint32_t b, uint32_t c, int rmode) {
    float x, y, z;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    memcpy(&z, &c, 4);
    fp_state saved = env_begin(rmode);
    float r = compute_single(op, x, y, z);
    cfp_result result;
    uint32_t bits;
    memcpy(&bits, &r, 4);
    result.bits = bits;
    result.flags = env_flags();
    float magnitude = fabsf(r);
    if (magnitude < 0x1p-126f && (magnitude != 0 || (result.flags & CFP_INEXACT))) {
        result.flags |= CFP_TINY;
    } else if (magnitude == 0x1p-126f && (result.flags & CFP_INEXACT)) {
        env_set_mode(3);
        if (fabsf(compute_single(op, x, y, z)) < 0x1p-126f) result.flags |= CFP_TINY;
    }
    env_end(saved);
    return result;
}

cfp_result cfp_from_integer(uint64_t value, int is_signed, int to_double, int rmode) {
    fp_state saved = env_begin(rmode);
    cfp_result result;
    volatile uint64_t v = value;
    if (to_double) {
        volatile double d = is_signed ? (double)(int64_t)v : (double)v;
        double r = d;
        memcpy(&result.bits, &r, 8);
    } else {
        volatile float f = is_signed ? (float)(int64_t)v : (float)v;
        float r = f;
        uint32_t bits;
        memcpy(&bits, &r, 4);
        result.bits = bits;
    }
    result.flags = env_flags();
    env_end(saved);
    return result;
}
