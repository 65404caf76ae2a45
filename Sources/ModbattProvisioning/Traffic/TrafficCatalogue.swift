/// The ModBatt reference traffic as data: every message the public firmware
/// sends in steady state, pack mode, all modules healthy, with the timers of
/// its design intent (shared/reference/modbatt-traffic.md, sections 4 and 6;
/// docs/TRAFFIC.md lists what is left out and why).

/// The two buses of a pack.
public enum TrafficBus: String, Sendable, Codable, CaseIterable, Hashable {
    /// Pack controller and its modules: 29-bit ids (base id in bits 28..18,
    /// module id in bits 7..0), classic CAN only (ATmega64M1).
    case module
    /// VCU (or the configuration tool) and the pack controller: 11-bit ids.
    case vehicle
}

/// One catalogued message type.
public struct TrafficMessage: Sendable, Hashable {
    /// Which end of the bus's pairs sends it.
    public enum Sender: String, Sendable, Hashable, Codable {
        /// Pack controller on the module bus, VCU on the vehicle bus.
        case controller
        /// A module on the module bus, the pack controller on the vehicle bus.
        case device
    }

    /// Who receives it.
    public enum Addressing: String, Sendable, Hashable, Codable {
        /// One receiver (a module, chosen by the trigger, or the single peer).
        case unicast
        /// Every module (module id 0). Encrypted, it is sealed once per pair
        /// (the project has pairwise sessions only) unless the simulation is
        /// told to assume a group key.
        case broadcast
        /// Modules without an id (0xFF): no pair exists yet, so it stays clear.
        case unregistered
    }

    /// What makes the sender call `send`.
    public enum Trigger: Sendable, Hashable {
        /// Every `periodMs`, from the sender's timer.
        case periodic(periodMs: Double)
        /// Round robin: every `periodMs` the controller polls the next module
        /// that is not still answering the previous poll.
        case poll(periodMs: Double)
        /// A module's answer to a poll: on its `tick`-th 100 ms tick after the
        /// poll was delivered (1 = the next tick).
        case pollReply(tick: Int)
        /// Per module: once `periodMs` has passed since the last one, and at
        /// once when message `afterDeliveryOf` from that module is delivered.
        case refresh(periodMs: Double, afterDeliveryOf: String)
    }

    public var name: String
    /// The firmware's 11-bit standard id (pack 0 on the vehicle bus).
    public var standardId: UInt16
    public var bus: TrafficBus
    public var sender: Sender
    public var addressing: Addressing
    /// Payload bytes (the firmware's DLC).
    public var dlc: Int
    public var trigger: Trigger
    /// A command (order and age matter): sealed with the 4-byte freshness
    /// value, as the session's COMMAND type.
    public var command: Bool
    /// The deadline: delivered later than this after the sender's call is a
    /// miss. The message's period (its next instance is due then).
    public var deadlineMs: Double

    public init(name: String, standardId: UInt16, bus: TrafficBus, sender: Sender, addressing: Addressing = .unicast,
                dlc: Int, trigger: Trigger, command: Bool = false, deadlineMs: Double) {
        self.name = name
        self.standardId = standardId
        self.bus = bus
        self.sender = sender
        self.addressing = addressing
        self.dlc = dlc
        self.trigger = trigger
        self.command = command
        self.deadlineMs = deadlineMs
    }

    /// "pack_to_module", "module_to_pack", "vcu_to_pack", "pack_to_vcu".
    public var direction: String {
        switch (bus, sender) {
        case (.module, .controller): "pack_to_module"
        case (.module, .device): "module_to_pack"
        case (.vehicle, .controller): "vcu_to_pack"
        case (.vehicle, .device): "pack_to_vcu"
        }
    }
}

/// The catalogue and its design-intent rates.
public enum TrafficCatalogue {
    /// A module's CAN work runs once per 100 ms tick (ModuleCPU/main.c:2835-2880).
    public static let moduleTickMs = 100.0

    /// Steady state of the reference firmware as designed (modbatt-traffic.md 6.1
    /// and 6.3, pack mode, configuration tool at 250 ms, clock already set).
    public static let reference: [TrafficMessage] = moduleBus + vehicleBus

    /// Module bus, modbatt-traffic.md 4.1 and 6.1.
    public static let moduleBus: [TrafficMessage] = [
        // 200 ms flag from the pack's 100 ms interrupt (the flood as coded is left out).
        TrafficMessage(name: "MODULE_MAX_STATE", standardId: 0x517, bus: .module, sender: .controller,
                       addressing: .broadcast, dlc: 1, trigger: .periodic(periodMs: 200), command: true,
                       deadlineMs: 200),
        // One poll per 100 ms, pack-wide, round robin over the idle modules.
        TrafficMessage(name: "MODULE_STATUS_REQUEST", standardId: 0x512, bus: .module, sender: .controller,
                       dlc: 1, trigger: .poll(periodMs: 100), deadlineMs: 100),
        // The answer leaves on consecutive module ticks, one frame per tick.
        TrafficMessage(name: "MODULE_STATUS_1", standardId: 0x502, bus: .module, sender: .device,
                       dlc: 8, trigger: .pollReply(tick: 1), deadlineMs: moduleTickMs),
        TrafficMessage(name: "MODULE_STATUS_2", standardId: 0x503, bus: .module, sender: .device,
                       dlc: 8, trigger: .pollReply(tick: 2), deadlineMs: moduleTickMs),
        TrafficMessage(name: "MODULE_STATUS_3", standardId: 0x504, bus: .module, sender: .device,
                       dlc: 8, trigger: .pollReply(tick: 3), deadlineMs: moduleTickMs),
        TrafficMessage(name: "MODULE_CELL_COMM_STATUS1", standardId: 0x507, bus: .module, sender: .device,
                       dlc: 8, trigger: .pollReply(tick: 4), deadlineMs: moduleTickMs),
        // Per module: after 1000 ms, and at once after a STATUS_1 showing the commanded state.
        TrafficMessage(name: "MODULE_STATE_CHANGE", standardId: 0x514, bus: .module, sender: .controller,
                       dlc: 4, trigger: .refresh(periodMs: 1000, afterDeliveryOf: "MODULE_STATUS_1"),
                       command: true, deadlineMs: 1000),
        TrafficMessage(name: "MODULE_ANNOUNCE_REQUEST", standardId: 0x51D, bus: .module, sender: .controller,
                       addressing: .unregistered, dlc: 1, trigger: .periodic(periodMs: 10_000),
                       deadlineMs: 10_000),
    ]

    /// Vehicle bus, modbatt-traffic.md 4.2 and 6.3 (pack mode, tool at 250 ms).
    public static let vehicleBus: [TrafficMessage] = {
        var list = [
            TrafficMessage(name: "VCU_COMMAND", standardId: 0x400, bus: .vehicle, sender: .controller,
                           dlc: 8, trigger: .periodic(periodMs: 250), command: true, deadlineMs: 250),
        ]
        let bms: [(String, UInt16)] = [
            ("BMS_STATE", 0x410), ("BMS_DATA_1", 0x421), ("BMS_DATA_2", 0x422), ("BMS_DATA_3", 0x423),
            ("BMS_DATA_5", 0x425), ("BMS_DATA_8", 0x428), ("BMS_DATA_9", 0x429), ("BMS_DATA_10", 0x430),
        ]
        for (name, id) in bms {
            list.append(TrafficMessage(name: name, standardId: id, bus: .vehicle, sender: .device,
                                       dlc: 8, trigger: .periodic(periodMs: 500), deadlineMs: 500))
        }
        return list
    }()

    /// Clear frames per second of `message` as designed, for a pack of
    /// `modules` (one frame per message; a broadcast is one frame). The
    /// analytic figure the simulation should reproduce.
    public static func designRate(of message: TrafficMessage, in catalogue: [TrafficMessage], modules: Int) -> Double {
        switch message.trigger {
        case .periodic(let p): return 1000 / p
        case .poll(let p): return 1000 / p
        case .pollReply:
            // One answer per poll while polls keep up (4 ticks per answer).
            guard let poll = catalogue.first(where: { if case .poll = $0.trigger { true } else { false } }),
                  case .poll(let p) = poll.trigger else { return 0 }
            return 1000 / p
        case .refresh(let period, let after):
            // Per poll cycle of N x poll period: the triggered one, then one
            // per full period until the next trigger.
            guard catalogue.contains(where: { $0.name == after }),
                  let poll = catalogue.first(where: { if case .poll = $0.trigger { true } else { false } }),
                  case .poll(let p) = poll.trigger else { return Double(modules) * 1000 / period }
            let cycle = Double(modules) * p
            let perCycle = 1 + ((cycle - 1) / period).rounded(.down)
            return Double(modules) * perCycle / (cycle / 1000)
        }
    }

    /// Clear frames per second of a bus, as designed.
    public static func designFramesPerSecond(_ catalogue: [TrafficMessage], bus: TrafficBus, modules: Int) -> Double {
        catalogue.filter { $0.bus == bus }.reduce(0) { $0 + designRate(of: $1, in: catalogue, modules: modules) }
    }
}
