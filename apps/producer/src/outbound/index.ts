export { DELIVERIES_USAGE, runDeliveriesCommand } from "./deliveries-command.ts";
export { ENDPOINTS_USAGE, type OutboundContext, runEndpointsCommand } from "./endpoints-command.ts";
