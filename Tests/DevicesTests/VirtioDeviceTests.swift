import Devices
import Foundation
import XCTest

/// virtio-blk (virtio 1.x §5.2) and virtio-console (§5.3) through a modern transport.
final class VirtioBlockTests: XCTestCase {
    typealias R = VirtioDriver.R

    private struct Setup {
        let disk: TemporaryDisk
        let memory = FakeGuestMemory()
        let transport: VirtioMMIO
        var driver: VirtioDriver

        init(sectors: Int = 8, readOnly: Bool = false) throws {
            disk = try TemporaryDisk(sectors: sectors)
            transport = VirtioMMIO(device: try VirtioBlock(path: disk.path, readOnly: readOnly), memory: memory)
            driver = VirtioDriver(transport: transport, memory: memory)
            driver.initializeModern(queues: 1)
        }

        /// Sends one request (header, optional out data, in data of `inLength`, status) and
        /// returns (status, used length, in data).
        mutating func request(type: UInt32, sector: UInt64, out: [UInt8] = [], inLength: Int = 0) -> (
            status: UInt8, used: UInt32, data: [UInt8]
        ) {
            let header = driver.allocate(16)
            memory.write(type, at: header)
            memory.write(UInt32(0), at: header + 4)
            memory.write(sector, at: header + 8)
            var buffers: [(UInt64, UInt32, Bool)] = [(header, 16, false)]
            if !out.isEmpty {
                let data = driver.allocate(out.count)
                memory.write(out, at: data)
                buffers.append((data, UInt32(out.count), false))
            }
            let input = driver.allocate(max(inLength, 1))
            if inLength > 0 { buffers.append((input, UInt32(inLength), true)) }
            let status = driver.allocate(1)
            memory.write([0xFF], at: status)
            buffers.append((status, 1, true))
            driver.offer(0, buffers)
            driver.notify(0)
            let used = driver.takeUsed(0)
            return (
                memory.read(status, count: 1).first ?? 0xFF, used.first?.length ?? 0,
                memory.read(input, count: inLength)
            )
        }
    }

    func testCapacityAndFeaturesInTheConfigurationSpace() throws {
        let setup = try Setup(sectors: 8, readOnly: true)
        XCTAssertEqual(setup.transport.read(offset: 0x100, size: 4), 8, "capacity (low word)")
        XCTAssertEqual(setup.transport.read(offset: 0x104, size: 4), 0, "capacity (high word)")
        XCTAssertEqual(setup.transport.read(offset: 0x10C, size: 4), 254, "seg_max")
        XCTAssertEqual(setup.transport.read(offset: 0x100, size: 1), 8, "byte access")
        XCTAssertEqual(setup.transport.read(offset: 0x200, size: 4), 0, "beyond the configuration space")
        setup.driver.write(R.deviceFeaturesSelect, 0)
        XCTAssertEqual(
            setup.driver.read(R.deviceFeatures), 1 << 2 | 1 << 5 | 1 << 9 | 1 << 28,
            "SEG_MAX | RO | FLUSH | INDIRECT_DESC")
    }

    func testWriteFlushAndReadBackReachTheHostFile() throws {
        var setup = try Setup()
        let pattern = (0..<1024).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        let write = setup.request(type: 1, sector: 2, out: pattern)
        XCTAssertEqual(write.status, 0)
        XCTAssertEqual(write.used, 1, "only the status byte is writable")
        XCTAssertEqual(setup.request(type: 4, sector: 0).status, 0, "flush")
        XCTAssertEqual(Array(setup.disk.contents[1024..<2048]), pattern, "in the host file")
        let read = setup.request(type: 0, sector: 2, inLength: 1024)
        XCTAssertEqual(read.status, 0)
        XCTAssertEqual(read.used, 1025)
        XCTAssertEqual(read.data, pattern)
        let untouched = setup.request(type: 0, sector: 7, inLength: 512)
        XCTAssertEqual(untouched.data, Array(setup.disk.contents[3584..<4096]))
    }

    func testRequestsOutsideTheDiskOrNotWholeSectorsAreIOErrors() throws {
        var setup = try Setup(sectors: 8)
        let before = setup.disk.contents
        XCTAssertEqual(setup.request(type: 0, sector: 8, inLength: 512).status, 1, "sector 8 of 8")
        XCTAssertEqual(setup.request(type: 0, sector: 7, inLength: 1024).status, 1, "crosses the end")
        XCTAssertEqual(setup.request(type: 0, sector: UInt64.max, inLength: 512).status, 1, "huge sector")
        XCTAssertEqual(setup.request(type: 1, sector: 0, out: [1, 2, 3]).status, 1, "not a whole sector")
        XCTAssertEqual(setup.request(type: 1, sector: 8, out: [UInt8](repeating: 9, count: 512)).status, 1)
        XCTAssertEqual(setup.disk.contents, before, "nothing written")
        XCTAssertEqual(setup.driver.read(R.status), 0xF, "request errors are not device errors")
    }

    func testReadOnlyDiskRefusesWritesAndUnknownTypesAreUnsupported() throws {
        var setup = try Setup(readOnly: true)
        let before = setup.disk.contents
        XCTAssertEqual(setup.request(type: 1, sector: 0, out: [UInt8](repeating: 1, count: 512)).status, 1)
        XCTAssertEqual(setup.disk.contents, before)
        XCTAssertEqual(setup.request(type: 0, sector: 0, inLength: 512).data, Array(before[0..<512]), "reads work")
        XCTAssertEqual(setup.request(type: 11, sector: 0).status, 2, "DISCARD: not offered, UNSUPP")
        XCTAssertEqual(setup.request(type: 99, sector: 0).status, 2)
        let id = setup.request(type: 8, sector: 0, inLength: 20)
        XCTAssertEqual(id.status, 0)
        XCTAssertEqual(id.used, 21)
        XCTAssertEqual(String(decoding: id.data.prefix { $0 != 0 }, as: UTF8.self), "armvisor-disk")
    }

    func testAChainWithoutHeaderOrStatusNeedsAReset() throws {
        var setup = try Setup()
        setup.driver.offer(0, [(setup.driver.allocate(8), 8, false), (setup.driver.allocate(1), 1, true)])
        setup.driver.notify(0)
        XCTAssertEqual(setup.driver.read(R.status) & 0x40, 0x40)
        XCTAssertEqual(setup.transport.failure?.description, "virtio-blk request 0 has no 16-byte header")

        var second = try Setup()
        second.driver.offer(0, [(second.driver.allocate(16), 16, false)])
        second.driver.notify(0)
        XCTAssertEqual(second.transport.failure?.description, "virtio-blk request 0 has no status byte")
    }

    func testADiskThatCannotBeOpenedIsAClearError() throws {
        XCTAssertThrowsError(try VirtioBlock(path: "/nonexistent/disk.img")) { error in
            XCTAssertEqual("\(error)", "disk /nonexistent/disk.img: No such file or directory")
        }
        XCTAssertThrowsError(try VirtioBlock(path: "/tmp")) { error in
            XCTAssertTrue("\(error)".hasPrefix("disk /tmp: "), "\(error)")
        }
    }
}

final class VirtioConsoleTests: XCTestCase {
    func testTransmitGoesToTheBackendAndInputWaitsForReceiveBuffers() {
        let memory = FakeGuestMemory()
        let backend = LoopbackBackend()
        let transport = VirtioMMIO(device: VirtioConsole(backend: backend), memory: memory)
        var driver = VirtioDriver(transport: transport, memory: memory)
        driver.initializeModern(queues: 2)
        let text = Array("hello, ".utf8)
        let more = Array("virtio\n".utf8)
        let a = driver.allocate(text.count)
        let b = driver.allocate(more.count)
        memory.write(text, at: a)
        memory.write(more, at: b)
        driver.offer(1, [(a, UInt32(text.count), false), (b, UInt32(more.count), false)])
        driver.notify(1)
        XCTAssertEqual(backend.text, "hello, virtio\n")
        XCTAssertEqual(driver.takeUsed(1).map(\.length), [0])

        backend.inject(Array("typed".utf8))
        XCTAssertEqual(driver.takeUsed(0).count, 0, "no receive buffer yet: the input waits")
        let first = driver.allocate(3)
        let second = driver.allocate(16)
        driver.offer(0, [(first, 3, true)])
        driver.offer(0, [(second, 16, true)])
        driver.notify(0)
        XCTAssertEqual(driver.takeUsed(0).map(\.length), [3, 2])
        XCTAssertEqual(
            String(decoding: memory.read(first, count: 3) + memory.read(second, count: 2), as: UTF8.self), "typed")
        backend.inject(Array("!".utf8))
        XCTAssertEqual(driver.takeUsed(0).count, 0, "the second buffer was used")
        let third = driver.allocate(4)
        driver.offer(0, [(third, 4, true)])
        driver.notify(0)
        XCTAssertEqual(driver.takeUsed(0).map(\.length), [1])
        let fourth = driver.allocate(4)
        driver.offer(0, [(fourth, 4, true)])
        driver.notify(0)
        backend.inject(Array("ab".utf8))
        XCTAssertEqual(driver.takeUsed(0).map(\.length), [2], "input arriving with a buffer waiting goes in at once")
        XCTAssertEqual(memory.read(fourth, count: 2), Array("ab".utf8))
        XCTAssertEqual(transport.read(offset: 0x060, size: 4), 1)
    }
}
