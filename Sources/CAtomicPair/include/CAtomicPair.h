// 16-byte atomics for the emulated core's LDXP/STXP of two X registers (Arm ARM B2.2.1: an
// exclusive pair of 64-bit registers is single-copy atomic). Swift has no 128-bit atomics on
// x86-64 without CMPXCHG16B, so this small C target provides them; and relaxed byte atomics at
// an address, for the code map that another vCPU's IC IVAU reads (`PhysicalMemory`).
#ifndef CATOMICPAIR_H
#define CATOMICPAIR_H
#include <stdbool.h>
#include <stdint.h>

/// Atomically reads the 16 bytes at `address` (16-byte aligned) into `*low` and `*high`.
void armvisor_load_pair(void *address, uint64_t *low, uint64_t *high);

/// Atomically replaces the 16 bytes at `address` (16-byte aligned) with `desired_low`,
/// `desired_high` if they still hold `expected_low`, `expected_high`; true when it did.
bool armvisor_compare_and_swap_pair(
    void *address, uint64_t expected_low, uint64_t expected_high, uint64_t desired_low, uint64_t desired_high);

/// Relaxed atomic load and store of the byte at `address` (a plain MOV on x86-64).
static inline uint8_t armvisor_load_byte_relaxed(const uint8_t *address) {
    return __atomic_load_n(address, __ATOMIC_RELAXED);
}
static inline void armvisor_store_byte_relaxed(uint8_t *address, uint8_t value) {
    __atomic_store_n(address, value, __ATOMIC_RELAXED);
}
#endif
