// virtio: a bare-metal virtio-mmio driver for the virt board, in freestanding C (no MMU, so
// every access is to Device memory: aligned, compiled with -mstrict-align). Scans the 32
// transports at 0x0A000000, drives the modern (version 2) or legacy (version 1) interface,
// whichever the transport shows, and polls the used rings. Expects a virtio-blk disk of at
// least 8 sectors whose sector 0 starts with "DISK0", a virtio-rng and a virtio-console. Lines:
//   blk at <transport>, rng at <transport>, console at <transport>   where the devices were found
//   PASS blk_features     FEATURES_OK accepted (version 2) / legacy features read
//   PASS blk_read         sector 0 read: starts with "DISK0", used length 513
//   PASS blk_write        sector 1 written with a pattern: status OK, used length 1
//   PASS blk_flush        VIRTIO_BLK_T_FLUSH: status OK
//   PASS blk_readback     sector 1 read back equals the pattern
//   PASS blk_interrupt    InterruptStatus bit 0 set after a request, cleared by InterruptACK
//   PASS blk_ioerr        a read at sector = capacity: VIRTIO_BLK_S_IOERR
//   PASS blk_unsupp       request type 99: VIRTIO_BLK_S_UNSUPP
//   PASS blk_get_id       VIRTIO_BLK_T_GET_ID: "armvisor-disk0", used length 21
//   PASS rng              two 32-byte reads: used length 32, not all zero, different
//   PASS console_tx       "hello through virtio-console\n" sent on a virtio-console's transmitq
//                         (used length 0); the host finds it on the console's backend
//   DONE
//   HOLDING               only when sector 0 starts "DISK0HOLD": the guest then idles in WFI
//                         instead of powering off (the daemon's SIGTERM test stops it)
// (virtio 1.x §2.7 split virtqueues, §4.2 virtio-mmio, §5.2 block, §5.4 entropy.)
#include <stdint.h>

#define UART 0x09000000UL
#define VIRTIO_BASE 0x0A000000UL
#define VIRTIO_STRIDE 0x200UL
#define QUEUE_SIZE 8

enum {
    MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEVICE_FEATURES = 0x010, DEVICE_FEATURES_SEL = 0x014,
    DRIVER_FEATURES = 0x020, DRIVER_FEATURES_SEL = 0x024, GUEST_PAGE_SIZE = 0x028, QUEUE_SEL = 0x030,
    QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038, QUEUE_ALIGN = 0x03C, QUEUE_PFN = 0x040, QUEUE_READY = 0x044,
    QUEUE_NOTIFY = 0x050, INTERRUPT_STATUS = 0x060, INTERRUPT_ACK = 0x064, STATUS = 0x070,
    QUEUE_DESC_LOW = 0x080, QUEUE_DESC_HIGH = 0x084, QUEUE_DRIVER_LOW = 0x090, QUEUE_DRIVER_HIGH = 0x094,
    QUEUE_DEVICE_LOW = 0x0A0, QUEUE_DEVICE_HIGH = 0x0A4, CONFIG = 0x100,
};

static inline void w32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t r32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void barrier(void) { __asm__ volatile("dsb sy" ::: "memory"); }

static void putc_(char c) {
    while (r32(UART + 0x18) & (1u << 5)) {}
    *(volatile uint8_t *)UART = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void putdec(uint32_t v) {
    char digits[12];
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) putc_(digits[--n]);
}
static void check(const char *name, int ok) {
    puts_(ok ? "PASS " : "FAIL ");
    puts_(name);
    putc_('\n');
}

struct desc { uint64_t addr; uint32_t len; uint16_t flags; uint16_t next; };

struct vq {
    uintptr_t base;
    uint32_t index;
    volatile struct desc *desc;
    volatile uint16_t *avail;     // flags, idx, ring[]
    volatile uint8_t *used;       // flags, idx, ring[] of {id, len}
    uint16_t avail_idx, used_seen;
};

// Per queue: 8 descriptors (128 bytes) then the available ring; the used ring at +4096 (the
// legacy layout with QueueAlign 4096, used for both versions).
static uint8_t queue_memory[4][8192] __attribute__((aligned(4096)));

// Resets the device at `base` and negotiates `wanted` features; returns 1 on success.
static int negotiate(uintptr_t base, uint64_t wanted) {
    uint32_t version = r32(base + VERSION);
    w32(base + GUEST_PAGE_SIZE, 4096);  // legacy: once, before the reset (as Linux and U-Boot)
    w32(base + STATUS, 0);
    w32(base + STATUS, 1);
    w32(base + STATUS, 3);
    w32(base + DEVICE_FEATURES_SEL, 0);
    uint64_t offered = r32(base + DEVICE_FEATURES);
    w32(base + DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)r32(base + DEVICE_FEATURES) << 32;
    uint64_t features = offered & wanted;
    w32(base + DRIVER_FEATURES_SEL, 0);
    w32(base + DRIVER_FEATURES, (uint32_t)features);
    w32(base + DRIVER_FEATURES_SEL, 1);
    w32(base + DRIVER_FEATURES, (uint32_t)(features >> 32));
    if (version == 2) {
        w32(base + STATUS, 0xB);
        if (!(r32(base + STATUS) & 8)) return 0;
    }
    return 1;
}

// Sets up queue `index` in `memory`; returns 1 on success.
static int add_queue(uintptr_t base, uint32_t index, struct vq *vq, uint8_t *memory) {
    uint32_t version = r32(base + VERSION);
    w32(base + QUEUE_SEL, index);
    if (r32(base + QUEUE_NUM_MAX) < QUEUE_SIZE) return 0;
    w32(base + QUEUE_NUM, QUEUE_SIZE);
    uintptr_t m = (uintptr_t)memory;
    if (version == 1) {
        w32(base + QUEUE_ALIGN, 4096);
        w32(base + QUEUE_PFN, (uint32_t)(m / 4096));
    } else {
        w32(base + QUEUE_DESC_LOW, (uint32_t)m);
        w32(base + QUEUE_DESC_HIGH, (uint32_t)(m >> 32));
        w32(base + QUEUE_DRIVER_LOW, (uint32_t)(m + 128));
        w32(base + QUEUE_DRIVER_HIGH, (uint32_t)((m + 128) >> 32));
        w32(base + QUEUE_DEVICE_LOW, (uint32_t)(m + 4096));
        w32(base + QUEUE_DEVICE_HIGH, (uint32_t)((m + 4096) >> 32));
        w32(base + QUEUE_READY, 1);
    }
    vq->base = base;
    vq->index = index;
    vq->desc = (volatile struct desc *)m;
    vq->avail = (volatile uint16_t *)(m + 128);
    vq->used = (volatile uint8_t *)(m + 4096);
    vq->avail_idx = 0;
    vq->used_seen = 0;
    return 1;
}

static void driver_ok(uintptr_t base) { w32(base + STATUS, r32(base + VERSION) == 2 ? 0xF : 0x7); }

// One device with one queue: negotiate, queue 0, DRIVER_OK.
static int setup(uintptr_t base, struct vq *vq, uint8_t *memory, uint64_t wanted) {
    if (!negotiate(base, wanted) || !add_queue(base, 0, vq, memory)) return 0;
    driver_ok(base);
    return 1;
}

struct buffer { void *addr; uint32_t len; int writable; };

// Submits one chain in descriptors 0..n-1, notifies, and polls for it; returns the used
// length, or 0xFFFFFFFF if the device never answered.
static uint32_t submit(struct vq *vq, const struct buffer *buffers, int n) {
    for (int i = 0; i < n; i++) {
        vq->desc[i].addr = (uint64_t)(uintptr_t)buffers[i].addr;
        vq->desc[i].len = buffers[i].len;
        vq->desc[i].flags = (uint16_t)((i < n - 1 ? 1 : 0) | (buffers[i].writable ? 2 : 0));
        vq->desc[i].next = (uint16_t)(i + 1);
    }
    vq->avail[2 + vq->avail_idx % QUEUE_SIZE] = 0;
    barrier();
    vq->avail_idx++;
    vq->avail[1] = vq->avail_idx;
    barrier();
    w32(vq->base + QUEUE_NOTIFY, vq->index);
    volatile uint16_t *used_idx = (volatile uint16_t *)(vq->used + 2);
    for (uint32_t spin = 0; *used_idx == vq->used_seen; spin++) {
        if (spin > 100000000u) return 0xFFFFFFFFu;
    }
    barrier();
    volatile uint32_t *element = (volatile uint32_t *)(vq->used + 4 + (vq->used_seen % QUEUE_SIZE) * 8);
    vq->used_seen++;
    return element[1];
}

struct blk_header { uint32_t type; uint32_t reserved; uint64_t sector; };

static struct blk_header header __attribute__((aligned(16)));
static uint8_t sector_data[512] __attribute__((aligned(16)));
static uint8_t pattern[512] __attribute__((aligned(16)));
static uint8_t status_byte __attribute__((aligned(16)));
static uint8_t id[24] __attribute__((aligned(16)));
static uint8_t random_a[32] __attribute__((aligned(16)));
static uint8_t random_b[32] __attribute__((aligned(16)));
static const char message[] = "hello through virtio-console\n";
static uint8_t console_line[64] __attribute__((aligned(16)));

// One block request: header, then either `out` data or `in` data, then the status byte.
static uint32_t blk_request(struct vq *vq, uint32_t type, uint64_t sector, void *data, uint32_t len, int device_writes) {
    header.type = type;
    header.reserved = 0;
    header.sector = sector;
    status_byte = 0xFF;
    struct buffer buffers[3] = {{&header, sizeof header, 0}, {data, len, device_writes}, {&status_byte, 1, 1}};
    if (len == 0) {
        buffers[1] = buffers[2];
        return submit(vq, buffers, 2);
    }
    return submit(vq, buffers, 3);
}

// Set when sector 0 starts "DISK0HOLD": after DONE the guest idles instead of powering off.
static int hold;

static int equal(const volatile uint8_t *a, const uint8_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

int main(void) {
    uintptr_t blk = 0, rng = 0, console = 0;
    for (uint32_t i = 0; i < 32; i++) {
        uintptr_t base = VIRTIO_BASE + i * VIRTIO_STRIDE;
        if (r32(base + MAGIC) != 0x74726976) continue;
        uint32_t device = r32(base + DEVICE_ID);
        if (device == 2 && !blk) {
            blk = base;
            puts_("blk at ");
            putdec(i);
            putc_('\n');
        } else if (device == 4 && !rng) {
            rng = base;
            puts_("rng at ");
            putdec(i);
            putc_('\n');
        } else if (device == 3 && !console) {
            console = base;
            puts_("console at ");
            putdec(i);
            putc_('\n');
        }
    }
    struct vq blkq, rngq;
    // VIRTIO_F_VERSION_1 and VIRTIO_BLK_F_FLUSH.
    int ok = blk && setup(blk, &blkq, queue_memory[0], (1ull << 32) | (1u << 9));
    check("blk_features", ok);
    if (ok) {
        uint32_t capacity = r32(blk + CONFIG);
        uint32_t used = blk_request(&blkq, 0, 0, sector_data, 512, 1);
        check("blk_read", used == 513 && status_byte == 0 && equal(sector_data, (const uint8_t *)"DISK0", 5));
        hold = equal(sector_data + 5, (const uint8_t *)"HOLD", 4);
        uint32_t interrupt = 0;
        for (uint32_t spin = 0; spin < 1000000u && !(interrupt & 1); spin++) interrupt = r32(blk + INTERRUPT_STATUS);
        w32(blk + INTERRUPT_ACK, interrupt);
        check("blk_interrupt", (interrupt & 1) && r32(blk + INTERRUPT_STATUS) == 0);
        for (int i = 0; i < 512; i++) pattern[i] = (uint8_t)(i * 7 + 3);
        for (int i = 0; i < 512; i++) sector_data[i] = pattern[i];
        used = blk_request(&blkq, 1, 1, sector_data, 512, 0);
        check("blk_write", used == 1 && status_byte == 0);
        used = blk_request(&blkq, 4, 0, 0, 0, 0);
        check("blk_flush", used == 1 && status_byte == 0);
        for (int i = 0; i < 512; i++) sector_data[i] = 0;
        used = blk_request(&blkq, 0, 1, sector_data, 512, 1);
        check("blk_readback", used == 513 && status_byte == 0 && equal(sector_data, pattern, 512));
        used = blk_request(&blkq, 0, capacity, sector_data, 512, 1);
        check("blk_ioerr", used == 513 && status_byte == 1);
        used = blk_request(&blkq, 99, 0, 0, 0, 0);
        check("blk_unsupp", used == 1 && status_byte == 2);
        used = blk_request(&blkq, 8, 0, id, 20, 1);
        check("blk_get_id", used == 21 && status_byte == 0 && equal(id, (const uint8_t *)"armvisor-disk0", 15));
    }
    ok = rng && setup(rng, &rngq, queue_memory[1], 1ull << 32);
    if (ok) {
        struct buffer a = {random_a, 32, 1}, b = {random_b, 32, 1};
        uint32_t first = submit(&rngq, &a, 1);
        uint32_t second = submit(&rngq, &b, 1);
        int nonzero = 0;
        for (int i = 0; i < 32; i++) nonzero |= random_a[i];
        ok = first == 32 && second == 32 && nonzero && !equal(random_a, random_b, 32);
    }
    check("rng", ok);
    // virtio-console: receiveq 0, transmitq 1; a line out through the transmit queue.
    struct vq rxq, txq;
    ok = console && negotiate(console, 1ull << 32) && add_queue(console, 0, &rxq, queue_memory[2]) &&
         add_queue(console, 1, &txq, queue_memory[3]);
    if (ok) {
        driver_ok(console);
        for (int i = 0; message[i]; i++) console_line[i] = (uint8_t)message[i];
        struct buffer line = {console_line, sizeof message - 1, 0};
        ok = submit(&txq, &line, 1) == 0;
    }
    check("console_tx", ok);
    puts_("DONE\n");
    if (hold) {
        // Sector 0 starts "DISK0HOLD": stay running (for the daemon's shutdown tests).
        puts_("HOLDING\n");
        for (;;) __asm__ volatile("wfi");
    }
    return 0;
}
