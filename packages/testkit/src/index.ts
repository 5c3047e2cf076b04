export { freePort } from "./free-port.ts";
export {
  basicAuthorization,
  type EnvelopeOptions,
  type LocalSns,
  type SnsEnvelope,
  type SnsMessageType,
  startLocalSns,
} from "./local-sns.ts";
export { type ReadyCheck, type RunningProcess, type StartProcessOptions, startProcess } from "./process.ts";
export { type PrometheusSample, parsePrometheusText, sumSamples } from "./prometheus-text.ts";
export { infoFields, redisCli, waitUntil } from "./redis-cli.ts";
export {
  type ClusterNode,
  type LocalRedisCluster,
  type StartRedisClusterOptions,
  startRedisCluster,
} from "./redis-cluster.ts";
export {
  type LocalRedisSentinelGroup,
  type StartSentinelGroupOptions,
  startRedisSentinelGroup,
} from "./redis-sentinel.ts";
export { type LocalRedis, type StartRedisOptions, startRedisServer } from "./redis-server.ts";
export {
  type LocalRedisSingle,
  type LocalRedisTopology,
  REDIS_TOPOLOGIES,
  type RedisTopologyKind,
  type StartRedisTopologyOptions,
  startRedisTopology,
} from "./redis-topology.ts";
export { seededRandom } from "./seeded-random.ts";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
export { type RedisServerFixture, useRedisServer } from "./use-redis-server.ts";
export {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookAnswer,
  type WebhookReceiver,
} from "./webhook-receiver.ts";
