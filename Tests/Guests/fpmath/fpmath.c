// fpmath: a freestanding C program doing FP and Advanced SIMD work (issue 8): loops the
// compiler vectorises (-O2: float FMLA, double FMLA, widening byte sums, saturating halfword
// adds, variable shifts), double-precision arithmetic printed by its own formatter (no libc),
// the FPCR rounding modes, FZ and DN, the FPSR flags, and the AdvSIMD saturating, narrowing,
// long, across-lanes, estimate and fixed-point instructions through <arm_neon.h>. It prints
// one line per result and `DONE`; the test compares the whole text with the same image's
// under qemu-system-aarch64. The MMU is off (Device memory), so data is 16-byte aligned and
// the build uses -mstrict-align.
#include <arm_neon.h>
#include <stdint.h>

#define UART 0x09000000UL

static inline uint32_t r32(uintptr_t a) { return *(volatile uint32_t *)a; }

static void putc_(char c) {
    while (r32(UART + 0x18) & (1u << 5)) {}
    *(volatile uint8_t *)UART = (uint8_t)c;
}

static void puts_(const char *s) {
    while (*s) putc_(*s++);
}

static void hex(uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--) putc_("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static void dec(int64_t v) {
    char digits[24];
    int n = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    if (v < 0) putc_('-');
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n) putc_(digits[--n]);
}

static uint64_t bits(double x) {
    union { double d; uint64_t u; } v = {.d = x};
    return v.u;
}

static uint32_t fbits(float x) {
    union { float f; uint32_t u; } v = {.f = x};
    return v.u;
}

// Its own formatting of a double: 17 significant digits, d.dddddddddddddddde±XX, found by
// scaling with FP multiplies and divides by 10 and peeling digits with FCVTZS/SCVTF (so the
// text itself depends on exact FP arithmetic).
static void fmt(double x) {
    uint64_t b = bits(x);
    if (b >> 63) {
        putc_('-');
        x = -x;
    }
    if (((b >> 52) & 0x7FF) == 0x7FF) {
        puts_((b & 0xFFFFFFFFFFFFFull) ? "nan" : "inf");
        return;
    }
    if (x == 0.0) {
        puts_("0");
        return;
    }
    int e = 0;
    while (x >= 10.0) {
        x /= 10.0;
        e++;
    }
    while (x < 1.0) {
        x *= 10.0;
        e--;
    }
    for (int i = 0; i < 17; i++) {
        int d = (int)x;
        if (d > 9) d = 9;
        putc_((char)('0' + d));
        if (i == 0) putc_('.');
        x = (x - d) * 10.0;
    }
    putc_('e');
    dec(e);
}

static void line_d(const char *label, double x) {
    puts_(label);
    puts_(" ");
    fmt(x);
    puts_(" ");
    hex(bits(x), 16);
    putc_('\n');
}

static uint64_t read_fpsr(void) {
    uint64_t v;
    __asm__ volatile("mrs %0, fpsr" : "=r"(v)::"memory");
    return v;
}

static void write_fpsr(uint64_t v) { __asm__ volatile("msr fpsr, %0" ::"r"(v) : "memory"); }
static void write_fpcr(uint64_t v) { __asm__ volatile("msr fpcr, %0" ::"r"(v) : "memory"); }

// Prints FPSR (the cumulative flags and QC) and clears it.
static void flags(const char *label) {
    puts_(label);
    puts_(" fpsr ");
    hex(read_fpsr(), 8);
    putc_('\n');
    write_fpsr(0);
}

static uint8_t out[16] __attribute__((aligned(16)));

static void line_q(const char *label, uint8x16_t v) {
    vst1q_u8(out, v);
    uint64_t low = 0, high = 0;
    for (int i = 7; i >= 0; i--) {
        low = low << 8 | out[i];
        high = high << 8 | out[8 + i];
    }
    puts_(label);
    puts_(" ");
    hex(high, 16);
    hex(low, 16);
    putc_('\n');
}

#define Q(label, v) line_q(label, vreinterpretq_u8_##v)
#define D(label, v) line_q(label, vcombine_u8(vreinterpret_u8_##v, vdup_n_u8(0)))

// Vectorised by the compiler (GCC 12, -O2: the very cheap cost model, so every trip count is a
// multiple of the vector length).
static float xs[64] __attribute__((aligned(16)));
static float ys[64] __attribute__((aligned(16)));
static double da[32] __attribute__((aligned(16)));
static double db[32] __attribute__((aligned(16)));
static double dc[32] __attribute__((aligned(16)));
static uint8_t bytes[64] __attribute__((aligned(16)));
static int16_t ha[32] __attribute__((aligned(16)));
static int16_t hb[32] __attribute__((aligned(16)));
static int16_t hs[32] __attribute__((aligned(16)));
static int32_t wa[32] __attribute__((aligned(16)));
static int32_t ws[32] __attribute__((aligned(16)));

static void saxpy(float a) {
    for (int i = 0; i < 64; i++) ys[i] = a * xs[i] + ys[i];
}

static void multiply_accumulate(void) {
    for (int i = 0; i < 32; i++) dc[i] = da[i] * db[i] + dc[i];
}

static uint32_t byte_sum(void) {
    uint32_t sum = 0;
    for (int i = 0; i < 64; i++) sum += bytes[i];
    return sum;
}

static void saturating_add(void) {
    for (int i = 0; i < 32; i++) {
        int32_t s = (int32_t)ha[i] + hb[i];
        hs[i] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
    }
}

static void shifts(void) {
    for (int i = 0; i < 32; i++) ws[i] = wa[i] >> (i & 7);
}

static void vectorised_loops(void) {
    for (int i = 0; i < 64; i++) {
        xs[i] = (float)i * 0.37f - 5.5f;
        ys[i] = 1.0f / (float)(i + 1);
        bytes[i] = (uint8_t)(i * 37 + 11);
    }
    for (int i = 0; i < 32; i++) {
        da[i] = (double)i / 7.0 - 2.0;
        db[i] = 1.0 + (double)(i * i) * 1e-3;
        dc[i] = 0.5;
        ha[i] = (int16_t)(i * 2111 - 30000);
        hb[i] = (int16_t)(i & 1 ? 20000 : -20000);
        wa[i] = (int32_t)(0x80000000u >> (i & 15)) ^ (i * 12345);
    }
    saxpy(1.75f);
    uint32_t fold = 0;
    for (int i = 0; i < 64; i++) fold = fold * 31 + fbits(ys[i]);
    puts_("saxpy ");
    hex(fold, 8);
    puts_(" ");
    fmt(ys[5]);
    putc_('\n');
    multiply_accumulate();
    double dot = 0;
    for (int i = 0; i < 32; i++) dot += dc[i] * da[i];
    line_d("dot", dot);
    puts_("bytes ");
    dec(byte_sum());
    putc_('\n');
    saturating_add();
    uint64_t h = 0;
    for (int i = 0; i < 32; i++) h = h * 65599 + (uint16_t)hs[i];
    puts_("sataddh ");
    hex(h, 16);
    putc_('\n');
    shifts();
    h = 0;
    for (int i = 0; i < 32; i++) h = h * 65599 + (uint32_t)ws[i];
    puts_("shifts ");
    hex(h, 16);
    putc_('\n');
}

static volatile double vone = 1.0, vthree = 3.0, vtiny = 0x1p-1070, vhuge = 0x1.fffffffffffffp1023;
static volatile float vf = 16777217.0f;

static void scalar_arithmetic(void) {
    double third = vone / vthree;
    line_d("third", third);
    line_d("sqrt2", __builtin_sqrt(vone + vone));
    line_d("fma", __builtin_fma(third, vthree, -vone));
    line_d("round", __builtin_round(vthree * 0.8333333333333334));
    line_d("floor", __builtin_floor(-vthree / 2));
    line_d("trunc", __builtin_trunc(-vthree / 2));
    line_d("fmax", __builtin_fmax(vthree, -vone));
    line_d("denormal", vtiny * 3.0);
    line_d("overflow", vhuge * 2.0);
    line_d("single", (double)(float)third);
    line_d("exp", 1e300 * vthree * 1e-310);
    flags("scalar");
    puts_("convert ");
    dec((int64_t)(vhuge));
    puts_(" ");
    dec((int32_t)(-vthree * 1e10));
    puts_(" ");
    dec((int64_t)(uint32_t)(vthree * 1e9));
    puts_(" ");
    hex(fbits((float)(double)vf + 1.0f), 8);
    putc_('\n');
    flags("convert");
}

static void rounding_modes(void) {
    static const char *names[4] = {"rn", "rp", "rm", "rz"};
    for (uint64_t mode = 0; mode < 4; mode++) {
        write_fpcr(mode << 22);
        double q = vone / vthree;
        double m = -vone / vthree;
        float s = (float)q;
        puts_(names[mode]);
        puts_(" ");
        hex(bits(q), 16);
        puts_(" ");
        hex(bits(m), 16);
        puts_(" ");
        hex(fbits(s), 8);
        putc_('\n');
    }
    write_fpcr(1 << 24);  // FZ
    double flushed = vtiny * vone;
    write_fpcr(1 << 25);  // DN
    double nan = (vone - vone) / (vone - vone);
    write_fpcr(0);
    puts_("fz ");
    hex(bits(flushed), 16);
    puts_(" dn ");
    hex(bits(nan), 16);
    putc_('\n');
    flags("modes");
}

static int16_t h16[8] __attribute__((aligned(16))) = {-32768, 32767, 16384, -2, 1000, -1000, 3, 0};
static int16_t k16[8] __attribute__((aligned(16))) = {-32768, 32767, 2, 16384, -1000, -1000, -3, 7};
static int32_t w32[4] __attribute__((aligned(16))) = {(int32_t)0x80000000, 0x7FFFFFFF, 0x10000, -5};
static int32_t s32[4] __attribute__((aligned(16))) = {-1, 4, -40, 33};
static int8_t b8[16] __attribute__((aligned(16))) = {-128, 127, 64, -64, 1, -1, 100, -100,
                                                        0, 50, -50, 120, -120, 7, -7, 33};
static uint8_t u8[16] __attribute__((aligned(16))) = {0, 255, 128, 127, 1, 254, 200, 55,
                                                         17, 34, 51, 68, 85, 102, 119, 136};
static float f32[4] __attribute__((aligned(16))) = {1.5f, -2.25f, 3.0e38f, -0.0f};

static void saturating_intrinsics(void) {
    int16x8_t a = vld1q_s16(h16), b = vld1q_s16(k16);
    int32x4_t w = vld1q_s32(w32), s = vld1q_s32(s32);
    int8x16_t c = vld1q_s8(b8);
    uint8x16_t u = vld1q_u8(u8);
    Q("sqdmulh", s16(vqdmulhq_s16(a, b)));
    Q("sqrdmulh", s32(vqrdmulhq_s32(w, vdupq_n_s32(0x40000000))));
    Q("sqdmull", s32(vqdmull_s16(vget_low_s16(a), vget_low_s16(b))));
    Q("sqdmlal", s64(vqdmlal_s32(vdupq_n_s64(0x7FFFFFFFFFFFFF00ll), vget_low_s32(w), vget_low_s32(w))));
    Q("sqdmlsl_lane", s32(vqdmlsl_lane_s16(vdupq_n_s32(0), vget_high_s16(a), vget_low_s16(b), 0)));
    Q("sqadd", s8(vqaddq_s8(c, c)));
    line_q("uqsub", vqsubq_u8(u, vdupq_n_u8(100)));
    Q("sqshl", s32(vqshlq_s32(w, s)));
    Q("uqrshl", u16(vqrshlq_u16(vreinterpretq_u16_s16(a), vdupq_n_s16(-3))));
    Q("srshl", s32(vrshlq_s32(w, s)));
    Q("ushl", u64(vshlq_u64(vreinterpretq_u64_s32(w), vdupq_n_s64(-60))));
    Q("sqshl_n", s16(vqshlq_n_s16(a, 3)));
    line_q("sqshlu_n", vqshluq_n_s8(c, 1));
    D("sqxtn", s16(vqmovn_s32(w)));
    line_q("sqxtun", vcombine_u8(vqmovun_s16(a), vdup_n_u8(0)));
    D("uqxtn", u16(vqmovn_u32(vreinterpretq_u32_s32(w))));
    D("sqshrn", s16(vqshrn_n_s32(w, 4)));
    line_q("sqrshrun", vcombine_u8(vqrshrun_n_s16(a, 6), vdup_n_u8(0)));
    Q("sqabs", s8(vqabsq_s8(c)));
    Q("sqneg", s32(vqnegq_s32(w)));
    Q("suqadd", s8(vuqaddq_s8(c, u)));
    line_q("usqadd", vsqaddq_u8(u, c));
    Q("uaddlp", u16(vpaddlq_u8(u)));
    Q("sadalp", s32(vpadalq_s16(w, a)));
    Q("umull_lane", u32(vmull_lane_u16(vget_low_u16(vreinterpretq_u16_s16(a)), vreinterpret_u16_s16(vget_low_s16(b)), 3)));
    Q("shll", s32(vshll_n_s16(vget_high_s16(a), 16)));
    flags("saturating");
    puts_("scalar ");
    hex((uint16_t)vqdmulhh_s16(-32768, -32768), 4);
    puts_(" ");
    hex((uint64_t)vqshld_s64(0x4000000000000000ll, 1), 16);
    puts_(" ");
    hex((uint32_t)vqmovnd_s64(-0x123456789ll), 8);
    puts_(" ");
    hex((uint64_t)vrshld_s64(-7, -1), 16);
    puts_(" ");
    hex((uint8_t)vqaddb_s8(100, 100), 2);
    putc_('\n');
    flags("scalar");
}

static void float_intrinsics(void) {
    float32x4_t f = vld1q_f32(f32);
    puts_("fmaxv ");
    hex(fbits(vmaxvq_f32(f)), 8);
    puts_(" fminnmv ");
    hex(fbits(vminnmvq_f32(f)), 8);
    putc_('\n');
    Q("urecpe", u32(vrecpeq_u32(vreinterpretq_u32_s32(vld1q_s32(w32)))));
    Q("ursqrte", u32(vrsqrteq_u32(vreinterpretq_u32_s32(vld1q_s32(s32)))));
    Q("scvtf_n", f32(vcvtq_n_f32_s32(vld1q_s32(w32), 16)));
    Q("fcvtzs_n", s32(vcvtq_n_s32_f32(f, 8)));
    Q("fcvtzu_n", u64(vcvtq_n_u64_f64(vcvt_f64_f32(vget_low_f32(f)), 3)));
    puts_("fcvtxn ");
    hex(fbits(vcvtxd_f32_f64(1.0 + 0x1p-30)), 8);
    puts_(" fmulx ");
    hex(fbits(vmulxs_f32(__builtin_inff(), -0.0f)), 8);
    putc_('\n');
    flags("float");
}

int main(void) {
    puts_("fpmath\n");
    vectorised_loops();
    flags("loops");
    scalar_arithmetic();
    rounding_modes();
    saturating_intrinsics();
    float_intrinsics();
    puts_("DONE\n");
    return 0;
}
