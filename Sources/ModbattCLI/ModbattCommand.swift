import ArgumentParser

@main
struct ModbattCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modbatt",
        abstract: "Secure CAN for modular battery packs: provisioning, pairing and encrypted traffic.",
        discussion: "Subcommands arrive with their issues: demo, bridge, provision, simulate, bus, decode, keys, audit.",
        subcommands: [BridgeCommand.self, AuditCommand.self]
    )
}
