export { type Backoff, backoffMs } from "./backoff.ts";
export {
  asUnreachable,
  connectionProblem,
  formatDelay,
  publicUrl,
  type ServiceTarget,
  ServiceUnreachableError,
  unreachableMessage,
} from "./service-unreachable.ts";
