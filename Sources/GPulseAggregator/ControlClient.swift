import GPulseTransport

/// Asks a running aggregator's control endpoint one question (REQ/REP).
public enum ControlClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends `command` and returns the reply, or fails after `timeoutMilliseconds` with a hint.
    public static func request(_ command: String, endpoint: String, timeoutMilliseconds: Int) throws(Failure) -> [UInt8] {
        do {
            let context = try ZMQContext()
            let socket = try ZMQSocket(context: context, type: .req)
            defer { socket.close() }
            try socket.set(.lingerMilliseconds(0))
            try socket.connect(endpoint)
            _ = try socket.send(Array(command.utf8))
            guard try socket.waitReadable(timeoutMilliseconds: timeoutMilliseconds), let reply = try socket.receiveFrames(blocking: false) else {
                throw Failure(
                    description: "no answer from \(endpoint) within \(timeoutMilliseconds) ms: is gpulse-aggregator running, "
                        + "and is this its endpoints.control (--control)?")
            }
            return reply.first ?? []
        } catch let error as ZMQError {
            throw Failure(description: "control request to \(endpoint) failed: \(error)")
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "\(error)")
        }
    }
}
