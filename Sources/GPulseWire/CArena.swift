/// Bump allocator for the C structs protobuf-c packs from. Everything allocated lives until `reset()`,
/// so one encode makes no per-field malloc once the arena has grown to the message's size.
/// Not thread safe: each encoder owns one.
final class CArena {
    private var blocks: [(base: UnsafeMutableRawPointer, size: Int)] = []
    private var current = 0
    private var used = 0
    private let minimumBlock: Int

    init(minimumBlock: Int = 64 << 10) {
        self.minimumBlock = minimumBlock
    }

    deinit {
        for block in blocks { block.base.deallocate() }
    }

    /// Forgets every allocation; keeps the memory for the next message.
    func reset() {
        current = 0
        used = 0
    }

    func allocate(bytes: Int, alignment: Int) -> UnsafeMutableRawPointer {
        while current < blocks.count {
            let block = blocks[current]
            let start = (used + alignment - 1) & ~(alignment - 1)
            if start + bytes <= block.size {
                used = start + bytes
                return block.base + start
            }
            current += 1
            used = 0
        }
        let size = max(minimumBlock, bytes + alignment)
        let base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        blocks.append((base, size))
        current = blocks.count - 1
        used = bytes
        return base
    }

    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        allocate(bytes: max(1, count) * MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
            .bindMemory(to: T.self, capacity: max(1, count))
    }

    /// A NUL-terminated copy of `string`.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var s = string
        return s.withUTF8 { utf8 in
            let p = allocate(CChar.self, count: utf8.count + 1)
            if let base = utf8.baseAddress {
                UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: utf8.count)
            }
            p[utf8.count] = 0
            return p
        }
    }

    /// A copy of `array`'s elements.
    func copy<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
        let p = allocate(T.self, count: array.count)
        array.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { p.initialize(from: base, count: src.count) }
        }
        return p
    }
}
