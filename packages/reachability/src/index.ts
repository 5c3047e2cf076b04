export {
  asUnreachable,
  connectionProblem,
  formatDelay,
  publicUrl,
  type ServiceTarget,
  ServiceUnreachableError,
  unreachableMessage,
} from "./service-unreachable.ts";
