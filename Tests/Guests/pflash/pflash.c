// pflash: the virt board's CFI flash banks (QEMU cfi.pflash01: two 16-bit Intel/Sharp devices
// side by side on a 32-bit bus, so every command is written to both lanes and every answer comes
// back twice), in freestanding C. Bank 1 (0x04000000) must be backed by a 64 MiB file whose
// first 8 bytes are "PFLASH1!" and whose block 2 (0x80000) starts with 0xA5A5A5A5. Lines:
//   PASS query          CFI query (0x98 at 0x55): "QRY", command set 0x0001, device size 2^25,
//                       one erase region of 256 blocks of 128 KiB per device (JESD68 0x10-0x30)
//   PASS read_id        read identifier (0x90): manufacturer 0x89, device 0x18 on both lanes
//   PASS read_array     read array (0xFF): the file's contents
//   PASS erase          block erase (0x20, 0xD0) of block 1: status ready, the block all ones,
//                       blocks 0 and 2 untouched
//   PASS program        word program (0x40, data): 0x12345678 at block 1 + 0
//   PASS buffer         buffered program (0xE8, count 15, 16 words, 0xD0) at block 1 + 0x100
//   PASS sequence       erase setup then 0x55: status shows the command sequence error (SR.4|SR.5)
//                       and block 3 is not erased; clear status (0x50) clears it. QEMU 7.2 erases
//                       at the setup command and sets only SR.4: it prints FAIL here
//   PASS bank0          bank 0 (volatile without firmware) answers the CFI query too
//   DONE
// The host then finds block 1 of the file erased and programmed as above.
// (Intel StrataFlash command set; JEDEC JESD68.01 CFI; QEMU hw/block/pflash_cfi01.c, hw/arm/virt.c.)
#include "guest-io.h"

#define BANK0 0x00000000UL
#define BANK1 0x04000000UL
#define BLOCK 0x40000UL
#define BOTH(x) ((uint32_t)(x) | ((uint32_t)(x) << 16))

static void check(const char *name, int ok) {
    puts_(ok ? "PASS " : "FAIL ");
    puts_(name);
    putc_('\n');
}
// Prints a mismatch (a line QEMU and armvisor would both print only on failure).
static int same(const char *what, uint32_t got, uint32_t want) {
    if (got == want) return 1;
    puts_("  ");
    puts_(what);
    puts_(": got ");
    puthex(got, 8);
    puts_(" want ");
    puthex(want, 8);
    putc_('\n');
    return 0;
}

static void command(uintptr_t address, uint8_t cmd) { w32(address, BOTH(cmd)); }
// A CFI query byte of one device at query offset `index`, both lanes.
static uint32_t query(uintptr_t bank, uint32_t index) { return r32(bank + index * 4); }

static int query_ok(uintptr_t bank) {
    int ok = 1;
    command(bank + 0x55 * 4, 0x98);
    ok &= same("Q", query(bank, 0x10), BOTH('Q'));
    ok &= same("R", query(bank, 0x11), BOTH('R'));
    ok &= same("Y", query(bank, 0x12), BOTH('Y'));
    ok &= same("command set", query(bank, 0x13) | query(bank, 0x14) << 8, BOTH(0x0001));
    ok &= same("size", query(bank, 0x27), BOTH(25));
    ok &= same("regions", query(bank, 0x2C), BOTH(1));
    ok &= same("blocks", query(bank, 0x2D) | query(bank, 0x2E) << 8, BOTH(255));
    ok &= same("block size", query(bank, 0x2F) | query(bank, 0x30) << 8, BOTH(0x200));
    command(bank, 0xFF);
    return ok;
}

static int all(uintptr_t from, uint32_t bytes, uint32_t value) {
    for (uint32_t i = 0; i < bytes; i += 4)
        if (r32(from + i) != value) return same("word", r32(from + i), value);
    return 1;
}

int main(void) {
    check("query", query_ok(BANK1));

    int ok = 1;
    command(BANK1, 0x90);
    ok &= same("manufacturer", r32(BANK1), BOTH(0x89));
    ok &= same("device", r32(BANK1 + 4), BOTH(0x18));
    command(BANK1, 0xFF);
    check("read_id", ok);

    ok = same("bytes 0-3", r32(BANK1), 0x414C4650);       // "PFLA", little-endian
    ok &= same("bytes 4-7", r32(BANK1 + 4), 0x21314853);  // "SH1!"
    ok &= same("block 2", r32(BANK1 + 2 * BLOCK), 0xA5A5A5A5);
    check("read_array", ok);

    command(BANK1 + BLOCK + 0x1230, 0x20);
    command(BANK1 + BLOCK + 0x1230, 0xD0);
    ok = same("erase status", r32(BANK1 + BLOCK), BOTH(0x80));
    command(BANK1, 0xFF);
    ok &= all(BANK1 + BLOCK, BLOCK, 0xFFFFFFFF);
    ok &= same("block 0", r32(BANK1), 0x414C4650);
    ok &= same("block 2", r32(BANK1 + 2 * BLOCK), 0xA5A5A5A5);
    check("erase", ok);

    command(BANK1 + BLOCK, 0x40);
    w32(BANK1 + BLOCK, 0x12345678);
    ok = same("program status", r32(BANK1 + BLOCK), BOTH(0x80));
    command(BANK1, 0xFF);
    ok &= same("programmed", r32(BANK1 + BLOCK), 0x12345678);
    ok &= same("next", r32(BANK1 + BLOCK + 4), 0xFFFFFFFF);
    check("program", ok);

    uintptr_t buffer = BANK1 + BLOCK + 0x100;
    command(buffer, 0xE8);
    ok = same("buffer available", r32(buffer) & BOTH(0x80), BOTH(0x80));
    w32(buffer, BOTH(15));
    for (uint32_t i = 0; i < 16; i++) w32(buffer + i * 4, 0xC0DE0000u + i);
    command(buffer, 0xD0);
    ok &= same("buffer status", r32(buffer), BOTH(0x80));
    command(BANK1, 0xFF);
    for (uint32_t i = 0; i < 16; i++) ok &= same("buffered", r32(buffer + i * 4), 0xC0DE0000u + i);
    ok &= same("after", r32(buffer + 64), 0xFFFFFFFF);
    check("buffer", ok);

    command(BANK1 + 3 * BLOCK, 0x20);
    command(BANK1 + 3 * BLOCK, 0x55);
    ok = same("sequence error", r32(BANK1) & BOTH(0x30), BOTH(0x30));
    command(BANK1, 0x50);
    command(BANK1, 0x70);
    ok &= same("cleared", r32(BANK1) & BOTH(0x7F), 0);
    command(BANK1, 0xFF);
    ok &= same("block 3 kept", r32(BANK1 + 3 * BLOCK), 0);
    check("sequence", ok);

    check("bank0", query_ok(BANK0));
    puts_("DONE\n");
    return 0;
}
