import GPulseTransport

/// Asks a running aggregator's control endpoint one question (REQ/REP).
public enum ControlClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends `command` and returns the reply, or fails after `timeoutMilliseconds` with a hint.
    public static func request(_ command: String, endpoint: String, timeoutMilliseconds: Int) throws(Failure) -> [UInt8] {
        let reply: [[UInt8]]?
        do {
            let context = try ZMQContext()
            let socket = try ZMQSocket(context: context, type: .req)
            defer { socket.close() }
            try socket.set(.lingerMilliseconds(0))
            try socket.connect(endpoint)
            _ = try socket.send(Array(command.utf8))
            reply = try socket.waitReadable(timeoutMilliseconds: timeoutMilliseconds) ? socket.receiveFrames(blocking: false) : nil
        } catch {
            throw Failure(description: "control request to \(endpoint) failed: \(error)")
        }
        guard let reply else {
            throw Failure(
                description: "no answer from \(endpoint) within \(timeoutMilliseconds) ms: is gpulse-aggregator running, "
                    + "and is this its endpoints.control (--control)?")
        }
        return reply.first ?? []
    }
}
