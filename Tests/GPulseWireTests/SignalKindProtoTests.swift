import CGPulseProto
import GPulseCore
import Testing

/// SignalKind is written by hand beside proto/gpulse/v1/metrics.proto; the generated descriptor is the
/// proto's own list, so the two cannot drift apart unnoticed.
@Suite struct SignalKindProtoTests {
    @Test func everyProtoSignalKindHasTheSameNumberAndName() {
        let d = gpulse__v1__signal_kind__descriptor
        var proto: [Int32: String] = [:]
        for i in 0..<Int(d.n_values) {
            let v = d.values[i]
            proto[v.value] = String(cString: v.name).lowercased()
        }
        proto[0] = nil  // SIGNAL_UNSPECIFIED: never sent
        #expect(Set(proto.keys) == Set(SignalKind.allCases.map(\.rawValue)))
        for kind in SignalKind.allCases { #expect(proto[kind.rawValue] == kind.name, "\(kind)") }
    }
}
