// vgic: the virtual GICv3 and the generic timers through directed checks, in freestanding C
// (start.S: vectors and the IRQ entry). One vCPU. Lines:
//   PASS lr_overflow     8 SGIs (INTIDs 0-7, priorities 0x80 down to 0x48: SGI 7 highest) made
//                        pending at once with IRQs masked — more than the 4 list registers
//                        (ICH_VTR_EL2.ListRegs = 3) — then unmasked: each is taken exactly once,
//                        in priority order 7, 6, ..., 0 (the highvisor refills the list registers
//                        on the underflow maintenance interrupt; Arm IHI 0069 6.4.x)
//   PASS ptimer_tval     the EL1 physical timer (CNTP_TVAL_EL0 = 1 ms, CNTP_CTL_EL0.ENABLE) fires
//                        PPI 30; in the handler CNTP_CTL_EL0.ISTATUS = 1 (Arm ARM D11.2.4)
//   PASS ptimer_cval     the same with CNTP_CVAL_EL0 = CNTPCT_EL0 + 1 ms
//   PASS ptimer_masked   CNTP_CTL_EL0 = ENABLE | IMASK with CVAL in the past: ISTATUS = 1, yet no
//                        interrupt is taken and PPI 30 is not pending (GICR_ISPENDR0)
//   PASS vtimer_cval     the virtual timer (CNTV_CVAL_EL0 = CNTVCT_EL0 + 1 ms) fires PPI 27
//   PASS vtimer_masked   CNTV_CTL_EL0 = ENABLE | IMASK: ISTATUS = 1, no interrupt, PPI 27 not
//                        pending
//   PASS eoimode         ICC_CTLR_EL1.EOImode = 1: ICC_EOIR1_EL1 drops the running priority
//                        (ICC_RPR_EL1 = 0xff) but SGI 8 stays active (GICR_ISACTIVER0) until
//                        ICC_DIR_EL1 deactivates it (IHI 0069 4.1.1 "Priority drop and
//                        interrupt deactivation")
//   PASS priority_mask   SGI 9 at priority 0x80 is not signalled with ICC_PMR_EL1 = 0x80 (only
//                        priorities strictly higher than the mask are) and is taken at 0x90
//   PASS preemption      in the handler of SGI 10 (priority 0x80) with IRQs unmasked, SGI 11
//                        (0x40) preempts it and SGI 12 (0xa0) waits until SGI 10 has ended: the
//                        order is 10, 11 (nested), 12
//   PASS rtc_level_spi   the PL031 RTC's alarm (RTCMR = RTCDR + 1, a host timer raising SPI 2,
//                        INTID 34, level): taken; EOI without clearing the RTC keeps the line
//                        high, so it is taken again; after RTCICR it is not
//   DONE
#include "guest-io.h"

#define RTC 0x09010000UL
#define GICD 0x08000000UL
#define GICR 0x080a0000UL
#define SGI_BASE (GICR + 0x10000UL)

#define SYSREG_READ(name)                                   \
    ({                                                      \
        uint64_t v_;                                        \
        __asm__ volatile("mrs %0, " name : "=r"(v_)::"memory"); \
        v_;                                                 \
    })
#define SYSREG_WRITE(name, v) __asm__ volatile("msr " name ", %0" ::"r"((uint64_t)(v)) : "memory")
#define ISB() __asm__ volatile("isb" ::: "memory")

static int failed;
static void begin(void) { failed = 0; }
static void expect(const char *what, uint64_t got, uint64_t want) {
    if (got == want) return;
    failed = 1;
    puts_("  ");
    puts_(what);
    puts_(": got ");
    puthex(got, 16);
    puts_(" want ");
    puthex(want, 16);
    putc_('\n');
}
static void end(const char *name) {
    puts_(failed ? "FAIL " : "PASS ");
    puts_(name);
    putc_('\n');
}

static void irqs_on(void) { __asm__ volatile("msr daifclr, #2\n isb" ::: "memory"); }
static void irqs_off(void) { __asm__ volatile("msr daifset, #2" ::: "memory"); }
static void spin(int n) {
    for (volatile int i = 0; i < n; i++) {}
}

// What the handler saw.
static volatile uint64_t seen[32];
static volatile int count;
static volatile uint64_t timer_ctl;  // CNTx_CTL_EL0 read in the handler
static volatile int defer_eoi;       // EOImode = 1 check: the handler does not DIR
static volatile int rtc_hits;

static void send_sgi(uint64_t intid) {
    SYSREG_WRITE("icc_sgi1r_el1", intid << 24 | 1);  // TargetList: Aff0 = 0 (this CPU)
    ISB();
}

static void set_priority(int intid, uint8_t priority) {
    if (intid < 32) w8(SGI_BASE + 0x400 + intid, priority);
    else w8(GICD + 0x400 + intid, priority);
}

void handle_irq(void) {
    uint64_t iar = SYSREG_READ("icc_iar1_el1");
    if (iar >= 1020) return;
    if (count < 32) seen[count] = iar;
    count = count + 1;
    if (iar == 30) {
        timer_ctl = SYSREG_READ("cntp_ctl_el0");
        SYSREG_WRITE("cntp_ctl_el0", 3);  // ENABLE | IMASK: the line drops
        ISB();
    } else if (iar == 27) {
        timer_ctl = SYSREG_READ("cntv_ctl_el0");
        SYSREG_WRITE("cntv_ctl_el0", 3);
        ISB();
    } else if (iar == 10) {
        send_sgi(11);
        send_sgi(12);
        irqs_on();
        spin(2000);
        irqs_off();
    } else if (iar == 34) {
        rtc_hits = rtc_hits + 1;
        if (rtc_hits == 2) w32(RTC + 0x1C, 1);  // RTCICR: the line drops
    }
    SYSREG_WRITE("icc_eoir1_el1", iar);
    if (!defer_eoi && (SYSREG_READ("icc_ctlr_el1") & 2)) SYSREG_WRITE("icc_dir_el1", iar);
}

// Waits (WFI, IRQs masked between checks) until `n` interrupts have been taken.
static void wait_for(int n) {
    for (;;) {
        irqs_off();
        if (count >= n) break;
        __asm__ volatile("wfi" ::: "memory");
        irqs_on();
    }
    irqs_off();
}

static void timer_fires(const char *name, int physical, int cval) {
    begin();
    count = 0;
    uint64_t freq = SYSREG_READ("cntfrq_el0");
    if (physical) {
        if (cval) SYSREG_WRITE("cntp_cval_el0", SYSREG_READ("cntpct_el0") + freq / 1000);
        else SYSREG_WRITE("cntp_tval_el0", freq / 1000);
        SYSREG_WRITE("cntp_ctl_el0", 1);
    } else {
        SYSREG_WRITE("cntv_cval_el0", SYSREG_READ("cntvct_el0") + freq / 1000);
        SYSREG_WRITE("cntv_ctl_el0", 1);
    }
    ISB();
    wait_for(1);
    expect("intid", seen[0], physical ? 30 : 27);
    expect("istatus", (timer_ctl >> 2) & 1, 1);
    if (physical) SYSREG_WRITE("cntp_ctl_el0", 0);
    else SYSREG_WRITE("cntv_ctl_el0", 0);
    ISB();
    end(name);
}

static void timer_masked(const char *name, int physical) {
    begin();
    count = 0;
    if (physical) {
        SYSREG_WRITE("cntp_cval_el0", SYSREG_READ("cntpct_el0"));
        SYSREG_WRITE("cntp_ctl_el0", 3);
    } else {
        SYSREG_WRITE("cntv_cval_el0", SYSREG_READ("cntvct_el0"));
        SYSREG_WRITE("cntv_ctl_el0", 3);
    }
    ISB();
    uint64_t ctl = physical ? SYSREG_READ("cntp_ctl_el0") : SYSREG_READ("cntv_ctl_el0");
    expect("istatus", (ctl >> 2) & 1, 1);
    irqs_on();
    spin(20000);
    irqs_off();
    expect("taken", count, 0);
    expect("pending", (r32(SGI_BASE + 0x200) >> (physical ? 30 : 27)) & 1, 0);
    if (physical) SYSREG_WRITE("cntp_ctl_el0", 0);
    else SYSREG_WRITE("cntv_ctl_el0", 0);
    ISB();
    end(name);
}

int main(void) {
    extern char vectors[];
    SYSREG_WRITE("vbar_el1", (uint64_t)vectors);
    irqs_off();
    // Distributor: affinity routing, group 1 on. Redistributor 0 awake; SGIs/PPIs group 1.
    w32(GICD, 0x12);
    w32(GICR + 0x14, r32(GICR + 0x14) & ~2u);
    while (r32(GICR + 0x14) & 4) {}
    w32(SGI_BASE + 0x80, 0xffffffff);
    for (int i = 0; i < 32; i++) set_priority(i, 0x80);
    w32(SGI_BASE + 0x100, 0xffff | 1u << 27 | 1u << 30);  // SGIs, virtual and physical timer PPIs
    SYSREG_WRITE("icc_sre_el1", SYSREG_READ("icc_sre_el1") | 1);
    ISB();
    SYSREG_WRITE("icc_pmr_el1", 0xf0);
    SYSREG_WRITE("icc_igrpen1_el1", 1);
    ISB();

    // lr_overflow
    begin();
    count = 0;
    for (int i = 0; i < 8; i++) set_priority(i, (uint8_t)(0x80 - 8 * i));
    for (int i = 0; i < 8; i++) send_sgi((uint64_t)i);
    irqs_on();
    spin(20000);
    irqs_off();
    expect("count", count, 8);
    for (int i = 0; i < 8 && i < count; i++) expect("order", seen[i], (uint64_t)(7 - i));
    for (int i = 0; i < 8; i++) set_priority(i, 0x80);
    end("lr_overflow");

    timer_fires("ptimer_tval", 1, 0);
    timer_fires("ptimer_cval", 1, 1);
    timer_masked("ptimer_masked", 1);
    timer_fires("vtimer_cval", 0, 1);
    timer_masked("vtimer_masked", 0);

    // eoimode
    begin();
    count = 0;
    defer_eoi = 1;
    SYSREG_WRITE("icc_ctlr_el1", SYSREG_READ("icc_ctlr_el1") | 2);
    ISB();
    send_sgi(8);
    irqs_on();
    spin(2000);
    irqs_off();
    expect("count", count, 1);
    expect("intid", seen[0], 8);
    expect("rpr", SYSREG_READ("icc_rpr_el1") & 0xff, 0xff);
    expect("active", (r32(SGI_BASE + 0x300) >> 8) & 1, 1);
    SYSREG_WRITE("icc_dir_el1", 8);
    ISB();
    expect("deactivated", (r32(SGI_BASE + 0x300) >> 8) & 1, 0);
    defer_eoi = 0;
    SYSREG_WRITE("icc_ctlr_el1", SYSREG_READ("icc_ctlr_el1") & ~2ull);
    ISB();
    end("eoimode");

    // priority_mask
    begin();
    count = 0;
    SYSREG_WRITE("icc_pmr_el1", 0x80);
    ISB();
    send_sgi(9);
    irqs_on();
    spin(2000);
    irqs_off();
    expect("masked", count, 0);
    SYSREG_WRITE("icc_pmr_el1", 0x90);
    ISB();
    irqs_on();
    spin(2000);
    irqs_off();
    expect("unmasked", count, 1);
    expect("intid", seen[0], 9);
    SYSREG_WRITE("icc_pmr_el1", 0xf0);
    ISB();
    end("priority_mask");

    // preemption
    begin();
    count = 0;
    set_priority(11, 0x40);
    set_priority(12, 0xa0);
    send_sgi(10);
    irqs_on();
    spin(20000);
    irqs_off();
    expect("count", count, 3);
    expect("first", seen[0], 10);
    expect("nested", seen[1], 11);
    expect("last", seen[2], 12);
    set_priority(11, 0x80);
    set_priority(12, 0x80);
    end("preemption");

    // rtc_level_spi: SPI 2 (INTID 34), group 1, routed to this CPU, enabled.
    begin();
    count = 0;
    w32(GICD + 0x84, r32(GICD + 0x84) | 1u << 2);          // GICD_IGROUPR1
    set_priority(34, 0x80);
    __asm__ volatile("str xzr, [%0]" ::"r"(GICD + 0x6000 + 8 * 34) : "memory");  // GICD_IROUTER34
    w32(GICD + 0x104, 1u << 2);                              // GICD_ISENABLER1
    w32(RTC + 0x1C, 1);
    w32(RTC + 0x10, 1);                                      // RTCIMSC: the match interrupt
    w32(RTC + 0x04, r32(RTC + 0x00) + 1);                    // RTCMR: the next second
    wait_for(2);
    irqs_on();
    spin(20000);
    irqs_off();
    expect("hits", rtc_hits, 2);
    expect("intid", seen[0], 34);
    expect("again", seen[1], 34);
    expect("raw", r32(RTC + 0x14) & 1, 0);
    w32(RTC + 0x10, 0);
    end("rtc_level_spi");

    puts_("DONE\n");
    return 0;
}
