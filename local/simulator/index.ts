export type { RemoteSimulator } from './remote.ts';
export { remoteSimulator } from './remote.ts';
export type { FaultKind, FaultSpec, SimCall, Simulator, SimulatorOptions } from './server.ts';
export { startSimulator } from './server.ts';
export type {
  ConsumeDayInput,
  CustomerInput,
  CustomerView,
  DeductionView,
  NniDayInput,
  NumberStyle,
  OrderView,
  PoolView,
  RecordInput,
  RecordView,
  SimEndpoint,
  SimOptions,
  SimPoolId,
  TrafficUseInput,
  UsageRowInput,
  UsageRowView,
} from './state.ts';
export { MSG as SIM_MESSAGES, SIM_ENDPOINTS } from './state.ts';
