#include "CAtomicPair.h"

// CMPXCHG16B on x86-64 (the `cx16` target feature, which every x86-64 host this runs on has:
// it is part of x86-64-v2); elsewhere the compiler's own 16-byte atomics (AArch64: LDXP/STXP
// or CASP).
#if defined(__x86_64__)
#define PAIR_TARGET __attribute__((target("cx16")))
#else
#define PAIR_TARGET
#endif

typedef unsigned __int128 pair_t;

PAIR_TARGET void armvisor_load_pair(void *address, uint64_t *low, uint64_t *high) {
    // A compare-and-swap that writes back what it found is the atomic 16-byte read CMPXCHG16B
    // offers (the line is written; guest RAM is always writable host memory).
    pair_t value = 0;
    __atomic_compare_exchange_n((pair_t *)address, &value, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    *low = (uint64_t)value;
    *high = (uint64_t)(value >> 64);
}

PAIR_TARGET bool armvisor_compare_and_swap_pair(
    void *address, uint64_t expected_low, uint64_t expected_high, uint64_t desired_low, uint64_t desired_high) {
    pair_t expected = (pair_t)expected_high << 64 | expected_low;
    pair_t desired = (pair_t)desired_high << 64 | desired_low;
    return __atomic_compare_exchange_n(
        (pair_t *)address, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
