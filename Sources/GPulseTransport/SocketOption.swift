import CZeroMQ

/// The socket options gpulse sets. Durations are milliseconds, as libzmq takes them.
public enum SocketOption: Sendable, Hashable {
    /// Messages queued for sending before `send` blocks or drops (per peer). 0 = unlimited.
    case sendHighWaterMark(Int32)
    /// Messages queued on receipt before the peer is pushed back. 0 = unlimited.
    case receiveHighWaterMark(Int32)
    /// How long `close` keeps unsent messages; -1 forever, 0 drop at once.
    case lingerMilliseconds(Int32)
    /// Peers sending a larger message are disconnected. -1 = unlimited.
    case maxMessageBytes(Int64)
    /// First reconnect delay after a connection drops.
    case reconnectIntervalMilliseconds(Int32)
    /// Upper bound of the exponential reconnect back-off; 0 = no back-off.
    case reconnectIntervalMaxMilliseconds(Int32)
    /// ZMTP heartbeat PING interval; 0 = off.
    case heartbeatIntervalMilliseconds(Int32)
    /// Drop the connection when no traffic arrives this long after a PING.
    case heartbeatTimeoutMilliseconds(Int32)
    /// Tell the peer to drop us if it hears nothing for this long.
    case heartbeatTTLMilliseconds(Int32)
    /// Only queue messages to completed connections (no queueing towards a peer that is not up).
    case immediate(Bool)
    /// SUB sockets: receive messages whose first frame starts with this prefix ("" = everything).
    case subscribe(String)
    case unsubscribe(String)
    /// Blocking receive gives up with `wouldBlock` after this long; -1 waits forever.
    case receiveTimeoutMilliseconds(Int32)
    /// Blocking send gives up with `wouldBlock` after this long; -1 waits forever.
    case sendTimeoutMilliseconds(Int32)
    /// Accept IPv6 as well as IPv4 on tcp endpoints.
    case ipv6(Bool)
    /// CURVE server side: this socket's own secret key (Z85); peers must speak CURVE to it.
    case curveServer(secretKey: String)
    /// CURVE client side: our key pair and the server's public key (all Z85).
    case curveClient(publicKey: String, secretKey: String, serverKey: String)
    /// The ZAP domain the authenticator sees for this socket's handshakes.
    case zapDomain(String)

    var name: String {
        switch self {
        case .sendHighWaterMark(let v): "ZMQ_SNDHWM=\(v)"
        case .receiveHighWaterMark(let v): "ZMQ_RCVHWM=\(v)"
        case .lingerMilliseconds(let v): "ZMQ_LINGER=\(v)"
        case .maxMessageBytes(let v): "ZMQ_MAXMSGSIZE=\(v)"
        case .reconnectIntervalMilliseconds(let v): "ZMQ_RECONNECT_IVL=\(v)"
        case .reconnectIntervalMaxMilliseconds(let v): "ZMQ_RECONNECT_IVL_MAX=\(v)"
        case .heartbeatIntervalMilliseconds(let v): "ZMQ_HEARTBEAT_IVL=\(v)"
        case .heartbeatTimeoutMilliseconds(let v): "ZMQ_HEARTBEAT_TIMEOUT=\(v)"
        case .heartbeatTTLMilliseconds(let v): "ZMQ_HEARTBEAT_TTL=\(v)"
        case .immediate(let v): "ZMQ_IMMEDIATE=\(v)"
        case .subscribe(let v): "ZMQ_SUBSCRIBE='\(v)'"
        case .unsubscribe(let v): "ZMQ_UNSUBSCRIBE='\(v)'"
        case .receiveTimeoutMilliseconds(let v): "ZMQ_RCVTIMEO=\(v)"
        case .sendTimeoutMilliseconds(let v): "ZMQ_SNDTIMEO=\(v)"
        case .ipv6(let v): "ZMQ_IPV6=\(v)"
        case .curveServer: "ZMQ_CURVE_SERVER=1 (secret key not shown)"
        case .curveClient(let publicKey, _, let serverKey): "ZMQ_CURVE_PUBLICKEY=\(publicKey) ZMQ_CURVE_SERVERKEY=\(serverKey)"
        case .zapDomain(let v): "ZMQ_ZAP_DOMAIN='\(v)'"
        }
    }

    /// Calls zmq_setsockopt with this option's number and value.
    func apply(to handle: UnsafeMutableRawPointer) -> Int32 {
        func int(_ option: Int32, _ value: Int32) -> Int32 {
            var v = value
            return zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size)
        }
        func bytes(_ option: Int32, _ value: String) -> Int32 {
            var s = value
            return s.withUTF8 { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        }
        switch self {
        case .sendHighWaterMark(let v): return int(ZMQ_SNDHWM, v)
        case .receiveHighWaterMark(let v): return int(ZMQ_RCVHWM, v)
        case .lingerMilliseconds(let v): return int(ZMQ_LINGER, v)
        case .maxMessageBytes(let v):
            var value = v
            return zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size)
        case .reconnectIntervalMilliseconds(let v): return int(ZMQ_RECONNECT_IVL, v)
        case .reconnectIntervalMaxMilliseconds(let v): return int(ZMQ_RECONNECT_IVL_MAX, v)
        case .heartbeatIntervalMilliseconds(let v): return int(ZMQ_HEARTBEAT_IVL, v)
        case .heartbeatTimeoutMilliseconds(let v): return int(ZMQ_HEARTBEAT_TIMEOUT, v)
        case .heartbeatTTLMilliseconds(let v): return int(ZMQ_HEARTBEAT_TTL, v)
        case .immediate(let v): return int(ZMQ_IMMEDIATE, v ? 1 : 0)
        case .subscribe(let v): return bytes(ZMQ_SUBSCRIBE, v)
        case .unsubscribe(let v): return bytes(ZMQ_UNSUBSCRIBE, v)
        case .receiveTimeoutMilliseconds(let v): return int(ZMQ_RCVTIMEO, v)
        case .sendTimeoutMilliseconds(let v): return int(ZMQ_SNDTIMEO, v)
        case .ipv6(let v): return int(ZMQ_IPV6, v ? 1 : 0)
        case .curveServer(let secret):
            // The key goes first: libzmq checks ZMQ_CURVE_SERVER against a key already set.
            let rc = bytes(ZMQ_CURVE_SECRETKEY, secret)
            return rc != 0 ? rc : int(ZMQ_CURVE_SERVER, 1)
        case .curveClient(let publicKey, let secretKey, let serverKey):
            for (option, key) in [(ZMQ_CURVE_SERVERKEY, serverKey), (ZMQ_CURVE_PUBLICKEY, publicKey), (ZMQ_CURVE_SECRETKEY, secretKey)] {
                let rc = bytes(option, key)
                if rc != 0 { return rc }
            }
            return 0
        case .zapDomain(let v): return bytes(ZMQ_ZAP_DOMAIN, v)
        }
    }
}
