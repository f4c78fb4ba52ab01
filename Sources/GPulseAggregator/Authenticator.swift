import GPulseCore
import GPulseTransport
import Logging
import Synchronization

/// The ZAP handler (ZeroMQ RFC 27) for the aggregator's CURVE sockets: libzmq asks it about every
/// CURVE handshake, on inproc://zeromq.zap.01 in the same context, and it answers from the allowlists.
/// On the metrics socket (domain "metrics") the User-Id it returns is the node id the key is bound
/// to, which the ingest loop compares with every batch's node_id; on the decision stream (domain
/// "decisions") it is the subscriber's name. Runs on its own thread until `stop()`.
public final class Authenticator: Sendable {
    public static let endpoint = "inproc://zeromq.zap.01"
    /// public key (Z85) → user id, per ZAP domain.
    private let allow: [String: [String: String]]
    private let denied = Mutex<[String: UInt64]>([:])
    private let logger: Logger
    private let thread: Mutex<WorkerThread?> = Mutex(nil)

    public init(allow: [String: [String: String]], logger: Logger) {
        self.allow = allow
        self.logger = logger
    }

    /// Handshakes refused, by domain.
    public var deniedByDomain: [String: UInt64] { denied.withLock { $0 } }

    /// Binds the ZAP endpoint; call before any CURVE socket of `context` binds.
    public func start(context: ZMQContext) throws(ZMQError) {
        let socket = try ZMQSocket(context: context, type: .rep)
        try socket.set(.lingerMilliseconds(0))
        try socket.bind(Self.endpoint)
        let owned = Handoff(socket)
        let t = WorkerThread(name: "gpulse-zap") { [self] worker in
            let socket = owned.take()
            defer { socket.close() }
            while !worker.shouldStop {
                do throws(ZMQError) {
                    guard try socket.waitReadable(timeoutMilliseconds: 100), let request = try socket.receiveFrames(blocking: false) else { continue }
                    _ = try socket.send(frames: answer(request), blocking: false)
                } catch {
                    if error == .contextTerminated { return }
                    logger.error("ZAP handler socket error", metadata: ["error": "\(error)"])
                }
            }
        }
        thread.withLock { $0 = t }
    }

    public func stop() {
        guard let t = thread.withLock({ t -> WorkerThread? in defer { t = nil }; return t }) else { return }
        t.stop()
        t.join()
    }

    /// The reply to one ZAP request: [version, request id, status code, status text, user id, metadata].
    func answer(_ request: [[UInt8]]) -> [[UInt8]] {
        func reply(_ id: [UInt8], _ code: String, _ text: String, _ user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), id, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard request.count >= 6, String(decoding: request[0], as: UTF8.self) == "1.0" else {
            return reply(request.count > 1 ? request[1] : [], "500", "malformed ZAP request")
        }
        let domain = String(decoding: request[2], as: UTF8.self)
        let address = String(decoding: request[3], as: UTF8.self)
        let mechanism = String(decoding: request[5], as: UTF8.self)
        guard mechanism == "CURVE", request.count >= 7, let key = CurveKeyPair.z85(request[6]) else {
            return deny(request[1], domain: domain, address: address, key: nil, why: "mechanism \(mechanism) not allowed", reply)
        }
        guard let user = allow[domain]?[key] else {
            return deny(request[1], domain: domain, address: address, key: key, why: "public key not in the allowlist", reply)
        }
        return reply(request[1], "200", "OK", user)
    }

    private func deny(
        _ id: [UInt8], domain: String, address: String, key: String?, why: String, _ reply: ([UInt8], String, String, String) -> [[UInt8]]
    ) -> [[UInt8]] {
        let count = denied.withLock { d in
            d[domain, default: 0] += 1
            return d[domain]!
        }
        // The first refusals are logged, then one in a thousand: a scanner must not flood the journal.
        if count <= 10 || count % 1000 == 0 {
            logger.warning(
                "refused a CURVE handshake", metadata: ["domain": "\(domain)", "peer": "\(address)", "public_key": "\(key ?? "-")", "why": "\(why)", "refused_so_far": "\(count)"])
        }
        return reply(id, "400", why, "")
    }
}
