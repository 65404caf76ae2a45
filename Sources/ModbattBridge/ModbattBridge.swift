// ModbattBridge: the API-Bridge client and an embedded API-Bridge server.
//
//   Models/   JSON shapes of the API-Bridge REST subset, shared by both sides
//   Client/   BridgeClient (typed async calls, retries), configuration,
//             the local provisioning registry, Host ID, Provisioner
//   Server/   EmbeddedBridge (Hummingbird), its SQLite store, auth,
//             rate limit and fault injection
//   Support/  small helpers (data folder, seeded RNG, ids)
//
// See docs/API_BRIDGE.md.
import Modbatt
