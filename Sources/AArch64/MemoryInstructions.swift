import Atomics
import CAtomicPair

/// The load/store forms that are rare in hot loops: exclusives with the local and global
/// monitors, and load-acquire/store-release (Arm ARM B2.9, C3.2.7).
///
/// The global monitor (B2.9.3) is modelled as QEMU does: the load-exclusive remembers the value it
/// read, and the store-exclusive is an atomic compare-and-swap of that value on host memory, so a
/// store from another vCPU to the location in between (which on hardware clears the global
/// monitor) makes the store-exclusive fail. A store that writes back the very value that was
/// there is not noticed (the ABA case); the architecture allows a monitor to stay armed only
/// for an implementation-defined reason, and spinlocks, counters and lock-free lists are correct
/// either way. Store-release is followed by a full fence so that a later load-acquire is not
/// reordered before it (x86 reorders a store with a later load; Arm's RCsc release/acquire
/// forbids that).
extension CPU {
    @inline(never)
    func executeOrderedAccess(_ insn: UnsafePointer<DecodedInstruction>, pc: UInt64) -> Continuation {
        let d = insn.pointee
        let x = registers
        let base = x[Int(d.rn)]
        if d.rn == 32 && base & 0xF != 0, let vector = checkStackAlignment(pc: pc) { return .jumped(vector) }
        let size = UInt64(1) << UInt64(d.a)
        switch d.op {
        case .loadExclusive, .loadExclusivePair, .loadAcquire:
            let pair = d.op == .loadExclusivePair
            let length = pair ? 2 * size : size
            if base & (length - 1) != 0 { return .jumped(alignmentFault(address: base, write: false, pc: pc)) }
            guard let p = dataPointer(base, length: length, type: .read, insn: insn, pc: pc) else {
                return failedAccess()
            }
            let (first, second) = Self.atomicLoad(p, sizeLog2: d.a, pair: pair)
            if d.op != .loadAcquire {
                state.pointee.exclusiveArmed = true
                state.pointee.exclusiveAddress = base
                state.pointee.exclusiveSize = length
                state.pointee.exclusiveHost = UInt(bitPattern: p)
                // The bytes read, as one little-endian value (up to 8 bytes) or two halves.
                let combined = pair && d.a < 3 ? first | second << (UInt64(8) << UInt64(d.a)) : first
                state.pointee.exclusiveValue = combined
                state.pointee.exclusiveValue2 = pair && d.a == 3 ? second : 0
            }
            if pair { x[Int(d.imm2)] = second }
            x[Int(d.rd)] = first
            return .next

        case .storeExclusive, .storeExclusivePair, .storeRelease:
            let pair = d.op == .storeExclusivePair
            let length = pair ? 2 * size : size
            if base & (length - 1) != 0 { return .jumped(alignmentFault(address: base, write: true, pc: pc)) }
            guard let p = dataPointer(base, length: length, type: .write, insn: insn, pc: pc) else {
                return failedAccess()
            }
            if d.op == .storeRelease {
                Arithmetic.store(p, x[Int(d.rd)], sizeLog2: d.a)
                Atomics.atomicMemoryFence(ordering: Atomics.AtomicUpdateOrdering.sequentiallyConsistent)
                return storedToCode(p, length: size) ? .completedInNewBlock : .next
            }
            let s = state
            let armed =
                s.pointee.exclusiveArmed && s.pointee.exclusiveAddress == base
                && s.pointee.exclusiveSize == length
            s.pointee.exclusiveArmed = false
            let first = x[Int(d.rd)]
            let second = x[Int(d.imm2)]
            let succeeds =
                armed
                && Self.compareAndSwap(
                    p, sizeLog2: d.a, pair: pair, expected: (s.pointee.exclusiveValue, s.pointee.exclusiveValue2),
                    desired: (first, second))
            x[Int(d.rm)] = succeeds ? 0 : 1
            guard succeeds else { return .next }
            return storedToCode(p, length: length) ? .completedInNewBlock : .next

        default:
            return .jumped(undefinedInstruction(at: pc))
        }
    }

    /// Single-copy atomic load of one register (or a pair) of `1 << sizeLog2` bytes each at an
    /// address aligned to the whole access.
    static func atomicLoad(_ p: UnsafeMutableRawPointer, sizeLog2: UInt8, pair: Bool) -> (UInt64, UInt64) {
        if pair && sizeLog2 == 3 {
            var low: UInt64 = 0
            var high: UInt64 = 0
            armvisor_load_pair(p, &low, &high)
            return (low, high)
        }
        let whole = pair ? sizeLog2 + 1 : sizeLog2
        let value: UInt64
        switch whole {
        case 0:
            value = UInt64(
                UnsafeAtomic<UInt8>(at: p.assumingMemoryBound(to: UInt8.AtomicRepresentation.self)).load(
                    ordering: .acquiring))
        case 1:
            value = UInt64(
                UnsafeAtomic<UInt16>(at: p.assumingMemoryBound(to: UInt16.AtomicRepresentation.self)).load(
                    ordering: .acquiring))
        case 2:
            value = UInt64(
                UnsafeAtomic<UInt32>(at: p.assumingMemoryBound(to: UInt32.AtomicRepresentation.self)).load(
                    ordering: .acquiring))
        default:
            value = UnsafeAtomic<UInt64>(at: p.assumingMemoryBound(to: UInt64.AtomicRepresentation.self)).load(
                ordering: .acquiring)
        }
        guard pair else { return (value, 0) }
        let half = UInt64(8) << UInt64(sizeLog2)
        return (value & ((1 << half) - 1), value >> half)
    }

    /// The store half of a store-exclusive: writes `desired` only if memory still holds
    /// `expected` (the bytes the load-exclusive read: one value of up to 8 bytes in `.0`, or
    /// the two halves of a 16-byte pair), atomically with respect to every other vCPU's accesses
    /// (a pair of 64-bit registers through CMPXCHG16B, `CAtomicPair`).
    static func compareAndSwap(
        _ p: UnsafeMutableRawPointer, sizeLog2: UInt8, pair: Bool, expected: (UInt64, UInt64), desired: (UInt64, UInt64)
    ) -> Bool {
        if pair && sizeLog2 == 3 {
            return armvisor_compare_and_swap_pair(p, expected.0, expected.1, desired.0, desired.1)
        }
        // Up to 8 bytes: `expected.0` is the whole value the load-exclusive read.
        let old = expected.0
        var new = desired.0
        var whole = sizeLog2
        if pair {
            let half = UInt64(8) << UInt64(sizeLog2)
            let mask: UInt64 = (1 << half) - 1
            new = (desired.0 & mask) | (desired.1 & mask) << half
            whole += 1
        }
        switch whole {
        case 0:
            return UnsafeAtomic<UInt8>(at: p.assumingMemoryBound(to: UInt8.AtomicRepresentation.self))
                .compareExchange(
                    expected: UInt8(truncatingIfNeeded: old), desired: UInt8(truncatingIfNeeded: new),
                    ordering: .sequentiallyConsistent
                ).exchanged
        case 1:
            return UnsafeAtomic<UInt16>(at: p.assumingMemoryBound(to: UInt16.AtomicRepresentation.self))
                .compareExchange(
                    expected: UInt16(truncatingIfNeeded: old), desired: UInt16(truncatingIfNeeded: new),
                    ordering: .sequentiallyConsistent
                ).exchanged
        case 2:
            return UnsafeAtomic<UInt32>(at: p.assumingMemoryBound(to: UInt32.AtomicRepresentation.self))
                .compareExchange(
                    expected: UInt32(truncatingIfNeeded: old), desired: UInt32(truncatingIfNeeded: new),
                    ordering: .sequentiallyConsistent
                ).exchanged
        default:
            return UnsafeAtomic<UInt64>(at: p.assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
                .compareExchange(expected: old, desired: new, ordering: .sequentiallyConsistent).exchanged
        }
    }

    /// An alignment fault on a data access, taken to EL1 (Arm ARM D1.10: EC 0x25 from EL1 or
    /// 0x24 from EL0, DFSC 0x21, FAR = the address).
    @inline(never)
    func alignmentFault(address: UInt64, write: Bool, pc: UInt64) -> UInt64 {
        let ec: ExceptionClass = state.pointee.exceptionLevel == 0 ? .dataAbortLowerEL : .dataAbortSameEL
        let iss = Syndrome.dataAbortISSNoSyndrome(write: write, status: FaultStatus.alignment)
        return takeExceptionToEL1(
            kind: .synchronous, syndrome: Syndrome.make(ec, iss: iss), preferredReturn: pc, faultAddress: address)
    }
}
