export {
  LOCAL_BUCKETS,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
  workerAllocatorEnv,
} from "./local-stack.ts";
export { renderSampleScene, SAMPLE_SCENES, type SampleScene } from "./sample-scenes.ts";
