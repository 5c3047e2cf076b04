export { type EmulatorConfig, emulatorConfigSchema } from "./emulator-config.ts";
export { type Faults, faultsSchema } from "./faults.ts";
export { type RunningEmulator, startEmulatorServer } from "./server.ts";
