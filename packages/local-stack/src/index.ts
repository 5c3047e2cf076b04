export {
  callerRedisEnv,
  LOCAL_BUCKETS,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
  workerAllocatorEnv,
} from "./local-stack.ts";
