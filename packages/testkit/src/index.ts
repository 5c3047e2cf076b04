export { freePort } from "./free-port.ts";
export { type ReadyCheck, type RunningProcess, type StartProcessOptions, startProcess } from "./process.ts";
export { type PrometheusSample, parsePrometheusText, sumSamples } from "./prometheus-text.ts";
export { type LocalRedis, type StartRedisOptions, startRedisServer } from "./redis-server.ts";
export { seededRandom } from "./seeded-random.ts";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
export { type RedisServerFixture, useRedisServer } from "./use-redis-server.ts";
