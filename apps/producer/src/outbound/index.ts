export { DELIVERIES_USAGE, deliveriesCommand, runDeliveriesCommand } from "./deliveries-command.ts";
export {
  ENDPOINTS_USAGE,
  endpointsCommand,
  type OutboundContext,
  runEndpointsCommand,
} from "./endpoints-command.ts";
