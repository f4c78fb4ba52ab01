import GPulseTransport
import Testing

@Suite struct SocketTests {
    @Test func multiFrameRoundTripOverInproc() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://frames")
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect("inproc://frames")

        #expect(try push.send(frames: [Array("topic/a".utf8), [1, 2, 3], []]))
        var buffer = MessageBuffer()
        #expect(try pull.receive(into: &buffer))
        #expect(buffer.frameCount == 3)
        #expect(buffer.frameString(0) == "topic/a")
        #expect(buffer.frame(1) == [1, 2, 3])
        #expect(buffer.frameSize(2) == 0)

        // The same buffer is reused: the second message replaces the first.
        try push.send([9])
        #expect(try pull.receive(into: &buffer))
        #expect(buffer.frameCount == 1 && buffer.frame(0) == [9])
    }

    @Test func tcpLoopbackWithKernelPickedPort() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = try pull.lastEndpoint()
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect(endpoint)
        try push.send(Array(repeating: 7, count: 5000))
        #expect(try pull.waitReadable(timeoutMilliseconds: 2000))
        #expect(try pull.receiveFrames() == [Array(repeating: 7, count: 5000)])
    }

    @Test func ipv6LoopbackBindsAndDelivers() throws {
        // Without ZMQ_IPV6, libzmq refuses to bind [::1] and a connect to it never completes.
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("tcp://[::1]:*")
        let endpoint = try pull.lastEndpoint()
        #expect(endpoint.hasPrefix("tcp://[::1]:"))
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect(endpoint)
        try push.send([4, 2])
        // Generous: a busy machine decides how soon the connection is up.
        #expect(try pull.waitReadable(timeoutMilliseconds: 20_000))
        #expect(try pull.receiveFrames() == [[4, 2]])
    }

    @Test func nonBlockingReceiveOnEmptySocketReturnsNothing() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://empty")
        var buffer = MessageBuffer()
        #expect(try pull.receive(into: &buffer, blocking: false) == false)
        var raw = [UInt8](repeating: 0, count: 16)
        let frame = try raw.withUnsafeMutableBytes { try pull.receiveFrame(into: $0, blocking: false) }
        #expect(frame == nil)
        #expect(try pull.waitReadable(timeoutMilliseconds: 10) == false)
    }

    @Test func frameLargerThanCallerBufferIsATypedError() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://small")
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect("inproc://small")
        try push.send(Array(repeating: 1, count: 100))
        try push.send([5, 6])
        var raw = [UInt8](repeating: 0, count: 8)
        #expect(throws: ZMQError.frameTooLarge(size: 100, capacity: 8)) {
            try raw.withUnsafeMutableBytes { _ = try pull.receiveFrame(into: $0) }
        }
        // The oversized frame was consumed; the next one arrives intact.
        let next = try raw.withUnsafeMutableBytes { try pull.receiveFrame(into: $0) }
        #expect(next?.count == 2 && next?.hasMore == false)
        #expect(raw[0] == 5 && raw[1] == 6)
    }

    @Test func badEndpointsAreTypedErrors() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context: context, type: .pull)
        #expect(throws: ZMQError.invalidEndpoint("bogus://x")) { try a.bind("bogus://x") }
        #expect(throws: ZMQError.invalidEndpoint("tcp://no-port")) { try a.bind("tcp://no-port") }
        try a.bind("tcp://127.0.0.1:*")
        let taken = try a.lastEndpoint()
        let b = try ZMQSocket(context: context, type: .pull)
        #expect(throws: ZMQError.addressInUse(taken)) { try b.bind(taken) }
    }

    @Test func closedSocketRefusesWork() throws {
        let context = try ZMQContext()
        let s = try ZMQSocket(context: context, type: .push)
        s.close()
        s.close()  // twice is harmless
        #expect(s.isClosed)
        #expect(throws: ZMQError.socketClosed) { try s.send([1]) }
        #expect(throws: ZMQError.socketClosed) { try s.connect("inproc://x") }
    }

    @Test func socketsKeepTheirContextAlive() throws {
        // No reference to the context survives this line except the sockets' own.
        let (pull, push) = try { () throws -> (ZMQSocket, ZMQSocket) in
            let context = try ZMQContext()
            let pull = try ZMQSocket(context: context, type: .pull)
            try pull.bind("inproc://alive")
            let push = try ZMQSocket(context: context, type: .push)
            try push.connect("inproc://alive")
            return (pull, push)
        }()
        try push.send([42])
        #expect(try pull.receiveFrames() == [[42]])
    }

    @Test func optionsAreAppliedAndBadValuesRefused() throws {
        let context = try ZMQContext()
        let s = try ZMQSocket(context: context, type: .push)
        try s.set([
            .sendHighWaterMark(10), .lingerMilliseconds(0), .maxMessageBytes(1 << 20), .reconnectIntervalMilliseconds(100),
            .reconnectIntervalMaxMilliseconds(5000), .heartbeatIntervalMilliseconds(1000), .heartbeatTimeoutMilliseconds(3000),
            .heartbeatTTLMilliseconds(3000), .immediate(false), .sendTimeoutMilliseconds(10),
        ])
        #expect(throws: ZMQError.invalidOption("ZMQ_LINGER=-5")) { try s.set(.lingerMilliseconds(-5)) }
    }

    @Test func fullSendQueueReportsWouldBlockInsteadOfWaiting() throws {
        let context = try ZMQContext()
        let push = try ZMQSocket(context: context, type: .push)
        try push.set([.sendHighWaterMark(2), .lingerMilliseconds(0)])
        // No peer is listening yet: libzmq queues up to the high-water mark on the pending pipe.
        try push.connect("tcp://127.0.0.1:1")
        var queued = 0
        for _ in 0..<10 where try push.send([1], blocking: false) { queued += 1 }
        #expect(queued == 2)
    }

    @Test func oversizedMessageIsRefusedByMaxMessageSize() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.set(.maxMessageBytes(1000))
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = try pull.lastEndpoint()

        let big = try ZMQSocket(context: context, type: .push)
        try big.set(.lingerMilliseconds(0))
        try big.connect(endpoint)
        try big.send(Array(repeating: 0, count: 5000))
        let small = try ZMQSocket(context: context, type: .push)
        try small.connect(endpoint)
        try small.send([1, 2, 3])

        #expect(try pull.waitReadable(timeoutMilliseconds: 2000))
        #expect(try pull.receiveFrames() == [[1, 2, 3]])
        #expect(try pull.waitReadable(timeoutMilliseconds: 200) == false)
    }

    @Test func publishSubscribeFiltersByTopicPrefix() throws {
        let context = try ZMQContext()
        let pub = try ZMQSocket(context: context, type: .pub)
        try pub.bind("inproc://decisions")
        let sub = try ZMQSocket(context: context, type: .sub)
        try sub.set(.subscribe("scale/"))
        try sub.connect("inproc://decisions")
        // A subscription takes effect asynchronously; publish until the first one lands.
        var received: [[UInt8]]?
        for _ in 0..<200 where received == nil {
            try pub.send(frames: [Array("node/gpu-1".utf8), [0]])
            try pub.send(frames: [Array("scale/llm".utf8), [1]])
            if try sub.waitReadable(timeoutMilliseconds: 10) { received = try sub.receiveFrames() }
        }
        #expect(received == [Array("scale/llm".utf8), [1]])
    }

    @Test func pollerReportsWhichSocketIsReadable() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context: context, type: .pull)
        try a.bind("inproc://a")
        let b = try ZMQSocket(context: context, type: .pull)
        try b.bind("inproc://b")
        let toB = try ZMQSocket(context: context, type: .push)
        try toB.connect("inproc://b")
        let poller = ZMQPoller()
        let ia = try poller.register(a)
        let ib = try poller.register(b)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        try toB.send([1])
        #expect(try poller.poll(timeoutMilliseconds: 1000) == 1)
        #expect(!poller.isReadable(ia) && poller.isReadable(ib))
    }

    @Test func libraryReportsItsVersion() {
        #expect(ZMQContext.libraryVersion.split(separator: ".").count == 3)
    }
}
