import Hypervisor

/// Flash bank 1 of the `virt` board when nothing backs it: reads as erased flash (all ones),
/// writes (CFI commands) are ignored, so a CFI probe finds no flash chip there. A full CFI
/// model (QEMU `pflash_cfi01`) arrives with issue "The virt board".
public final class ErasedFlashBank: MMIODevice {
    public let name = "flash1"

    public init() {}

    public func read(offset: UInt64, size: Int) -> UInt64 {
        size == 8 ? ~0 : (1 << UInt64(size * 8)) - 1
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {}
}
