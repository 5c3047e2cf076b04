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
export { type LocalRedis, type StartRedisOptions, startRedisServer } from "./redis-server.ts";
export { seededRandom } from "./seeded-random.ts";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
export { type RedisServerFixture, useRedisServer } from "./use-redis-server.ts";
export {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookAnswer,
  type WebhookReceiver,
} from "./webhook-receiver.ts";
