/// A fleet that never changes: `replicas` nodes, whatever the load (the static baseline).
public struct StaticPolicy: ScalingPolicy {
    public let name = "static"
    public var replicas: Int
    public init(replicas: Int) { self.replicas = replicas }
    public mutating func evaluate(_ input: PoolInput) -> ScalePlan {
        ScalePlan(desiredReplicas: replicas, reason: "static fleet of \(replicas)")
    }
}
