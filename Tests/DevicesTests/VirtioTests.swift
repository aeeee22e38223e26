import Devices
import Foundation
import TestSupport
import XCTest

/// The virtio-mmio transport (virtio 1.x §4.2) and the split virtqueue (§2.7), driven through
/// the registers with a fake guest memory, including what a broken or hostile driver does.
final class VirtioTransportTests: XCTestCase {
    typealias R = VirtioDriver.R

    func testUnusedTransportAnswersDeviceIDZero() {
        for version in [VirtioMMIO.Version.modern, .legacy] {
            let transport = VirtioMMIO(device: nil, memory: FakeGuestMemory(), version: version)
            XCTAssertEqual(transport.read(offset: R.magic, size: 4), 0x7472_6976)
            XCTAssertEqual(transport.read(offset: R.version, size: 4), UInt64(version.rawValue))
            XCTAssertEqual(transport.read(offset: R.vendorID, size: 4), 0x554D_4551)
            XCTAssertEqual(transport.read(offset: R.deviceID, size: 4), 0, "no device")
            XCTAssertEqual(transport.read(offset: R.queueSizeMaximum, size: 4), 0)
            transport.write(offset: R.status, size: 4, value: 0xF)
            XCTAssertEqual(transport.read(offset: R.status, size: 4), 0)
            XCTAssertEqual(transport.read(offset: 0x100, size: 4), 0, "no configuration space")
        }
    }

    func testRegistersTakeWordAccessesOnly() {
        let transport = VirtioMMIO(device: VirtioRNG(), memory: FakeGuestMemory())
        XCTAssertEqual(transport.read(offset: R.magic, size: 1), 0)
        XCTAssertEqual(transport.read(offset: R.magic, size: 2), 0)
        XCTAssertEqual(transport.read(offset: R.deviceID, size: 4), 4)
        transport.write(offset: R.status, size: 1, value: 1)
        XCTAssertEqual(transport.read(offset: R.status, size: 4), 0, "a byte write to Status is ignored")
        XCTAssertEqual(transport.read(offset: 0x0D0, size: 4), 0, "reserved offsets read 0")
    }

    func testModernNegotiationRequiresVersion1AndASubsetOfTheOffer() throws {
        let memory = FakeGuestMemory()
        let disk = try TemporaryDisk(sectors: 8)
        let transport = VirtioMMIO(device: try VirtioBlock(path: disk.path), memory: memory)
        let driver = VirtioDriver(transport: transport, memory: memory)
        driver.write(R.deviceFeaturesSelect, 0)
        XCTAssertEqual(driver.read(R.deviceFeatures), 1 << 2 | 1 << 9 | 1 << 28, "SEG_MAX | FLUSH | INDIRECT_DESC")
        driver.write(R.deviceFeaturesSelect, 1)
        XCTAssertEqual(driver.read(R.deviceFeatures), 1, "VIRTIO_F_VERSION_1")
        driver.write(R.deviceFeaturesSelect, 2)
        XCTAssertEqual(driver.read(R.deviceFeatures), 0)

        XCTAssertEqual(driver.initializeModern(queues: 1, features: 1 << 9) & 8, 0, "no VERSION_1: no FEATURES_OK")
        XCTAssertEqual(driver.initializeModern(queues: 1, features: 1 << 32 | 1 << 4) & 8, 0, "bit 4 was not offered")
        XCTAssertEqual(driver.initializeModern(queues: 1, features: 1 << 32 | 1 << 9) & 8, 8)
        XCTAssertEqual(driver.read(R.status), 0xF)
        XCTAssertEqual(driver.read(R.configGeneration), 0)
        driver.write(R.status, 0)
        XCTAssertEqual(driver.read(R.status), 0, "reset")
        driver.write(R.queueSelect, 0)
        XCTAssertEqual(driver.read(R.queueReady), 0, "a reset takes the queue down")
        XCTAssertEqual(driver.read(R.queueSizeMaximum), 256)
        driver.write(R.queueSelect, 1)
        XCTAssertEqual(driver.read(R.queueSizeMaximum), 0, "virtio-blk has one queue")
    }

    func testQueueSizeMustBeAPowerOfTwoWithinTheMaximumAndLayoutIsFrozenWhileReady() {
        let memory = FakeGuestMemory()
        let transport = VirtioMMIO(device: VirtioRNG(), memory: memory)
        var driver = VirtioDriver(transport: transport, memory: memory)
        driver.initializeModern(queues: 1)
        // Live queue: a new size or table address is ignored (§4.2.3.2), so requests still work.
        driver.write(R.queueSize, 3)
        driver.write(R.queueDescriptorLow, 0x1234)
        let buffer = driver.allocate(16)
        driver.offer(0, [(buffer, 16, true)])
        driver.notify(0)
        XCTAssertEqual(driver.takeUsed(0).map(\.length), [16])
        driver.write(R.queueReady, 0)
        XCTAssertEqual(driver.read(R.queueReady), 0)
        driver.write(R.queueSize, 3)
        driver.write(R.queueSize, 512)
        driver.write(R.queueSize, 0)
        driver.write(R.queueReady, 1)
        XCTAssertEqual(driver.read(R.queueReady), 1, "the size stayed 8 (none of 3, 512, 0 taken)")
    }

    func testRNGFillsBuffersAndInterruptsUntilAcknowledged() {
        let memory = FakeGuestMemory()
        let transport = VirtioMMIO(device: VirtioRNG(), memory: memory)
        let line = LineRecorder()
        transport.interruptLine = line.handler
        var driver = VirtioDriver(transport: transport, memory: memory)
        driver.initializeModern(queues: 1)
        let first = driver.allocate(64)
        let second = driver.allocate(32)
        let head = driver.offer(0, [(first, 64, true)])
        let other = driver.offer(0, [(second, 32, true)])
        XCTAssertEqual(line.history, [], "nothing before the notification")
        driver.notify(0)
        let used = driver.takeUsed(0)
        XCTAssertEqual(used.map(\.id), [UInt32(head), UInt32(other)])
        XCTAssertEqual(used.map(\.length), [64, 32])
        XCTAssertNotEqual(memory.read(first, count: 64), [UInt8](repeating: 0, count: 64), "random bytes")
        XCTAssertNotEqual(memory.read(first, count: 32), memory.read(second, count: 32))
        XCTAssertEqual(driver.read(R.interruptStatus), 1)
        XCTAssertEqual(line.history, [true])
        driver.write(R.interruptAcknowledge, 1)
        XCTAssertEqual(driver.read(R.interruptStatus), 0)
        XCTAssertEqual(line.history, [true, false])
    }

    func testDriverCanSuppressTheUsedBufferInterrupt() {
        let memory = FakeGuestMemory()
        let transport = VirtioMMIO(device: VirtioRNG(), memory: memory)
        var driver = VirtioDriver(transport: transport, memory: memory)
        driver.initializeModern(queues: 1)
        memory.write(UInt16(1), at: driver.availableRing(0))  // VIRTQ_AVAIL_F_NO_INTERRUPT
        driver.offer(0, [(driver.allocate(8), 8, true)])
        driver.notify(0)
        XCTAssertEqual(driver.takeUsed(0).count, 1)
        XCTAssertEqual(driver.read(R.interruptStatus), 0)
    }

    func testNothingIsServedBeforeDriverOK() {
        let memory = FakeGuestMemory()
        let transport = VirtioMMIO(device: VirtioRNG(), memory: memory)
        var driver = VirtioDriver(transport: transport, memory: memory)
        driver.initializeModern(queues: 1)
        driver.write(R.status, 0xB)  // a driver that has not said DRIVER_OK
        driver.offer(0, [(driver.allocate(8), 8, true)])
        driver.notify(0)
        XCTAssertEqual(driver.takeUsed(0).count, 0)
        driver.write(R.status, 0xF)
        driver.notify(0)
        XCTAssertEqual(driver.takeUsed(0).count, 1)
    }

    /// Each malformed queue marks the device NEEDS_RESET with a configuration-change interrupt
    /// and leaves guest memory and the host alone; a reset brings the device back.
    func testMalformedQueuesMarkTheDeviceNeedsReset() {
        struct Case {
            let name: String
            let expected: String
            let make: (inout VirtioDriver) -> Void
        }
        let cases: [Case] = [
            Case(name: "loop", expected: "a loop") { driver in
                driver.setDescriptor(0, 0, address: driver.allocate(8), length: 8, flags: 1 | 2, next: 1)
                driver.setDescriptor(0, 1, address: driver.allocate(8), length: 8, flags: 1 | 2, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "buffer outside RAM", expected: "is not in RAM") { driver in
                driver.offer(0, [(0x1000, 64, true)])
            },
            Case(name: "buffer crossing the end of RAM", expected: "is not in RAM") { driver in
                driver.offer(0, [(driver.memory.base + UInt64(driver.memory.size) - 8, 64, true)])
            },
            Case(name: "address that wraps", expected: "is not in RAM") { driver in
                driver.offer(0, [(UInt64.max - 3, 64, true)])
            },
            Case(name: "head out of the table", expected: "outside a queue of 8") { driver in
                driver.makeAvailable(0, head: 9)
            },
            Case(name: "next out of the table", expected: "outside a queue of 8") { driver in
                driver.setDescriptor(0, 0, address: driver.allocate(8), length: 8, flags: 1 | 2, next: 200)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "indirect in an indirect table", expected: "indirect inside an indirect table") { driver in
                let table = driver.allocate(32)
                driver.memory.write(driver.allocate(16), at: table)
                driver.memory.write(UInt32(16), at: table + 8)
                driver.memory.write(UInt16(4), at: table + 12)
                driver.setDescriptor(0, 0, address: table, length: 32, flags: 4, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "indirect after a direct descriptor", expected: "not the only descriptor") { driver in
                driver.setDescriptor(0, 0, address: driver.allocate(8), length: 8, flags: 1 | 2, next: 1)
                driver.setDescriptor(0, 1, address: driver.allocate(16), length: 16, flags: 4, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "indirect with NEXT", expected: "not the only descriptor") { driver in
                driver.setDescriptor(0, 0, address: driver.allocate(16), length: 16, flags: 4 | 1, next: 1)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "indirect table of a partial descriptor", expected: "a multiple of 16") { driver in
                driver.setDescriptor(0, 0, address: driver.allocate(24), length: 24, flags: 4, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "empty indirect table", expected: "a multiple of 16") { driver in
                driver.setDescriptor(0, 0, address: driver.allocate(16), length: 0, flags: 4, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "indirect table outside RAM", expected: "is not in RAM") { driver in
                driver.setDescriptor(0, 0, address: 0x1000, length: 64, flags: 4, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "loop in an indirect table", expected: "longer than the indirect table") { driver in
                let table = driver.allocate(32)
                for (i, next) in [(0, 1), (1, 0)] {
                    let entry = table + UInt64(i) * 16
                    driver.memory.write(driver.allocate(8), at: entry)
                    driver.memory.write(UInt32(8), at: entry + 8)
                    driver.memory.write(UInt16(1 | 2), at: entry + 12)
                    driver.memory.write(UInt16(next), at: entry + 14)
                }
                driver.setDescriptor(0, 0, address: table, length: 32, flags: 4, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "next out of an indirect table", expected: "outside an indirect table of 1") { driver in
                let table = driver.allocate(16)
                driver.memory.write(driver.allocate(8), at: table)
                driver.memory.write(UInt32(8), at: table + 8)
                driver.memory.write(UInt16(1 | 2), at: table + 12)
                driver.memory.write(UInt16(5), at: table + 14)
                driver.setDescriptor(0, 0, address: table, length: 16, flags: 4, next: 0)
                driver.makeAvailable(0, head: 0)
            },
            Case(name: "available index jumps", expected: "available index moved") { driver in
                driver.memory.write(UInt16(100), at: driver.availableRing(0) + 2)
            },
        ]
        for c in cases {
            let memory = FakeGuestMemory()
            let transport = VirtioMMIO(device: VirtioRNG(), memory: memory)
            let line = LineRecorder()
            transport.interruptLine = line.handler
            var driver = VirtioDriver(transport: transport, memory: memory)
            driver.initializeModern(queues: 1)
            c.make(&driver)
            driver.notify(0)
            XCTAssertEqual(driver.read(R.status), 0x4F, "\(c.name): NEEDS_RESET")
            XCTAssertEqual(driver.read(R.interruptStatus), 2, "\(c.name): configuration change")
            XCTAssertEqual(line.history, [true], c.name)
            XCTAssertTrue(
                transport.failure?.description.contains(c.expected) ?? false,
                "\(c.name): \(transport.failure?.description ?? "no failure")")
            XCTAssertEqual(driver.takeUsed(0).count, 0, c.name)
            // Dead until reset, then as new.
            driver.write(R.status, 0xF)
            XCTAssertEqual(driver.read(R.status), 0x4F, "\(c.name): NEEDS_RESET sticks")
            driver = VirtioDriver(transport: transport, memory: memory)
            memory.write(UInt16(0), at: driver.availableRing(0) + 2)
            memory.write(UInt16(0), at: driver.usedRing(0) + 2)
            driver.initializeModern(queues: 1)
            XCTAssertEqual(driver.read(R.status), 0xF, "\(c.name): reset")
            XCTAssertNil(transport.failure, c.name)
            driver.offer(0, [(driver.allocate(8), 8, true)])
            driver.notify(0)
            XCTAssertEqual(driver.takeUsed(0).count, 1, "\(c.name): works again after the reset")
        }
    }

    func testLegacyTransportUsesPageFrameLayoutAndLowFeatureBitsOnly() throws {
        let memory = FakeGuestMemory()
        let disk = try TemporaryDisk(sectors: 8)
        let transport = VirtioMMIO(device: try VirtioBlock(path: disk.path), memory: memory, version: .legacy)
        XCTAssertEqual(transport.read(offset: R.version, size: 4), 1)
        transport.write(offset: R.deviceFeaturesSelect, size: 4, value: 1)
        XCTAssertEqual(transport.read(offset: R.deviceFeatures, size: 4), 0, "no VERSION_1 on the legacy interface")
        // Linux's and U-Boot's legacy sequence: the page size once at probe, a reset (which keeps
        // it), then per queue QueueNum, QueueAlign, QueuePFN.
        let pfn: UInt32 = 0x4001_0  // 0x4001_0000 / 4096
        transport.write(offset: R.guestPageSize, size: 4, value: 4096)
        transport.write(offset: R.status, size: 4, value: 0)
        transport.write(offset: R.status, size: 4, value: 3)
        transport.write(offset: R.queueSelect, size: 4, value: 0)
        transport.write(offset: R.queueSize, size: 4, value: 8)
        transport.write(offset: R.queueAlign, size: 4, value: 4096)
        transport.write(offset: R.queuePFN, size: 4, value: UInt64(pfn))
        XCTAssertEqual(transport.read(offset: R.queuePFN, size: 4), UInt64(pfn))
        XCTAssertEqual(transport.read(offset: R.queueReady, size: 4), 0, "no QueueReady in version 1")
        transport.write(offset: R.status, size: 4, value: 7)
        // Descriptor table at the PFN, available ring right after 8 descriptors, used ring at the
        // next 4096 boundary.
        let table: UInt64 = 0x4001_0000
        let available = table + 16 * 8
        let used: UInt64 = 0x4001_1000
        let header = memory.base + 0x8_0000
        let data = header + 0x100
        let status = header + 0x400
        memory.write(UInt32(8), at: header)  // T_GET_ID
        memory.write([UInt8](repeating: 0xFF, count: 20), at: data)  // stale bytes the ID must cover
        for (i, (address, length, flags)) in [(header, UInt32(16), UInt16(1)), (data, 20, 3), (status, 1, 2)]
            .enumerated()
        {
            let entry = table + UInt64(i) * 16
            memory.write(address, at: entry)
            memory.write(length, at: entry + 8)
            memory.write(flags, at: entry + 12)
            memory.write(UInt16(i + 1), at: entry + 14)
        }
        memory.write(UInt16(0), at: available + 4)
        memory.write(UInt16(1), at: available + 2)
        transport.write(offset: R.queueNotify, size: 4, value: 0)
        XCTAssertEqual(memory.read(UInt16.self, at: used + 2), 1, "used index")
        XCTAssertEqual(memory.read(UInt32.self, at: used + 8), 21, "used length: every writable byte")
        XCTAssertEqual(memory.read(status, count: 1), [0])
        XCTAssertEqual(String(decoding: memory.read(data, count: 13), as: UTF8.self), "armvisor-disk")
        XCTAssertEqual(memory.read(data + 13, count: 7), [UInt8](repeating: 0, count: 7), "NUL-padded to 20 bytes")
        XCTAssertEqual(transport.read(offset: R.interruptStatus, size: 4), 1)
        transport.write(offset: R.queuePFN, size: 4, value: 0)
        XCTAssertEqual(transport.read(offset: R.queuePFN, size: 4), 0, "PFN 0 takes the queue down")
    }
}

/// A raw disk image in a temporary directory, filled with a per-sector pattern.
final class TemporaryDisk {
    let directory: URL
    let path: String

    init(sectors: Int) throws {
        directory = try TestPaths.temporaryDirectory()
        path = directory.appendingPathComponent("disk.img").path
        var bytes = [UInt8](repeating: 0, count: sectors * 512)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i / 512 * 16 + i % 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    var contents: [UInt8] { (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// VIRTIO_F_INDIRECT_DESC (virtio 1.2 §2.7.5.3): a chain whose head points at a table of
    /// descriptors is served like the direct chain it describes; the used element names the
    /// head in the ring's table.
    func testIndirectDescriptorTablesAreFollowedWhenNegotiated() throws {
        let memory = FakeGuestMemory()
        let disk = try TemporaryDisk(sectors: 8)
        let transport = VirtioMMIO(device: try VirtioBlock(path: disk.path), memory: memory)
        var driver = VirtioDriver(transport: transport, memory: memory)
        XCTAssertEqual(driver.initializeModern(queues: 1) & 8, 8, "everything offered, INDIRECT_DESC too")
        // A GET_ID request as three descriptors in an indirect table (header, data, status).
        let header = driver.allocate(16)
        let data = driver.allocate(20)
        let status = driver.allocate(1)
        memory.write(UInt32(8), at: header)
        let table = driver.allocate(48)
        for (i, (address, length, flags)) in [(header, UInt32(16), UInt16(1)), (data, 20, 3), (status, 1, 2)]
            .enumerated()
        {
            let entry = table + UInt64(i) * 16
            memory.write(address, at: entry)
            memory.write(length, at: entry + 8)
            memory.write(flags, at: entry + 12)
            memory.write(UInt16(i + 1), at: entry + 14)
        }
        // The WRITE flag on the descriptor of the table itself is ignored (§2.7.5.3.2).
        driver.setDescriptor(0, 3, address: table, length: 48, flags: 4 | 2, next: 0)
        driver.makeAvailable(0, head: 3)
        driver.notify(0)
        let used = driver.takeUsed(0)
        XCTAssertEqual(used.map(\.id), [3])
        XCTAssertEqual(used.map(\.length), [21])
        XCTAssertEqual(memory.read(status, count: 1), [0], "VIRTIO_BLK_S_OK")
        XCTAssertNil(transport.failure)

        // Not negotiated: the same chain is a driver error.
        driver = VirtioDriver(transport: transport, memory: memory)
        memory.write(UInt16(0), at: driver.availableRing(0) + 2)
        memory.write(UInt16(0), at: driver.usedRing(0) + 2)
        XCTAssertEqual(driver.initializeModern(queues: 1, features: 1 << 32 | 1 << 9) & 8, 8)
        driver.setDescriptor(0, 3, address: table, length: 48, flags: 4, next: 0)
        driver.makeAvailable(0, head: 3)
        driver.notify(0)
        XCTAssertEqual(driver.read(VirtioDriver.R.status), 0x4F)
        XCTAssertTrue(
            transport.failure?.description.contains("not negotiated") ?? false,
            "\(String(describing: transport.failure))")
    }
}
