/// A setting out of range: which one, typed (the config layer names it by its key, so this module
/// knows no file layout), and why. A message that compares with another setting says `{related}`
/// where that setting's name goes.
public struct SettingProblem<Setting: Sendable & Hashable>: Sendable, Hashable {
    public var setting: Setting
    public var message: String
    public var related: Setting?

    public init(_ setting: Setting, _ message: String, related: Setting? = nil) {
        self.setting = setting
        self.message = message
        self.related = related
    }

    /// The message, with `name(related)` where it says `{related}`.
    public func message(naming name: (Setting) -> String) -> String {
        guard let related else { return message }
        return message.replacing("{related}", with: name(related))
    }

    /// The same problem about a setting one level up (e.g. the load index's weights inside the fleet's).
    public func lifted<Outer>(_ wrap: (Setting) -> Outer) -> SettingProblem<Outer> {
        SettingProblem<Outer>(wrap(setting), message, related: related.map(wrap))
    }
}
