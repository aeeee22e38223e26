import Synchronization

/// A push button wired to a GPIO input line (QEMU `hw/gpio/gpio_key.c`): `press` drives the line
/// high and releases it 100 ms later, like a finger on a key. The `virt` board's power button is
/// one on PL061 pin 3, described to the guest by a `gpio-keys` device-tree node with
/// `linux,code = <KEY_POWER>`; QEMU's `virt_powerdown_req` presses it the same way.
public final class GPIOKey: Sendable {
    /// How long a press holds the line high (QEMU `GPIO_KEY_LATENCY`).
    public static let pressDuration: UInt64 = 100_000_000

    private let gpio: PL061
    private let pin: Int
    private let clock: any DeviceClock
    private let release = Mutex<(any DeviceAlarm)?>(nil)

    public init(gpio: PL061, pin: Int, clock: any DeviceClock = HostDeviceClock()) {
        self.gpio = gpio
        self.pin = pin
        self.clock = clock
    }

    /// Presses the button: the line rises now and falls `pressDuration` later. A press while the
    /// button is down restarts the hold, as QEMU's timer does.
    public func press() {
        release.withLock { pending in
            pending?.cancel()
            gpio.setInput(pin: pin, level: true)
            pending = clock.schedule(at: clock.nanoseconds() + Self.pressDuration) { [gpio, pin] in
                gpio.setInput(pin: pin, level: false)
            }
        }
    }
}
