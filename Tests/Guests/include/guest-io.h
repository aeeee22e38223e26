// guest-io.h: MMIO accessors and PL011 output for the freestanding C guests (vgic, pflash).
#ifndef GUEST_IO_H
#define GUEST_IO_H
#include <stdint.h>

#define UART 0x09000000UL

// Plain LDR/STR/STRB (no writeback forms, which give a hypervisor no syndrome to emulate from).
static inline void w32(uintptr_t a, uint32_t v) { __asm__ volatile("str %w1, [%0]" ::"r"(a), "r"(v) : "memory"); }
static inline void w8(uintptr_t a, uint8_t v) { __asm__ volatile("strb %w1, [%0]" ::"r"(a), "r"(v) : "memory"); }
static inline uint32_t r32(uintptr_t a) {
    uint32_t v;
    __asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(a) : "memory");
    return v;
}

// One byte to the PL011 once its transmit FIFO has room (UARTFR.TXFF, bit 5).
static inline void putc_(char c) {
    while (r32(UART + 0x18) & (1u << 5)) {}
    w8(UART, (uint8_t)c);
}
static inline void puts_(const char *s) { while (*s) putc_(*s++); }
// The low `digits` hex digits of `v`, most significant first.
static inline void puthex(uint64_t v, int digits) {
    for (int i = 4 * (digits - 1); i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 0xF]);
}
#endif
