import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  /** Where clients connect, e.g. redis://127.0.0.1:<port> is built from it. */
  port: number;
  /**
   * A failover as clients of a managed Redis live it: the connections open now go silent (nothing
   * forwarded either way, nothing closed, so the client is never told), while new connections
   * reach the target as before.
   */
  silenceOpenConnections(): void;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  silenced: boolean;
}

/**
 * A TCP proxy in front of a server on loopback, for failure modes a restart alone does not show: a
 * failover behind a DNS name or a load balancer leaves old connections half-dead (no RST, no FIN),
 * and a client without its own timeouts waits on them forever.
 */
export async function startTcpProxy({ targetPort }: { targetPort: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted += 1;
    const upstream = connect({ host: "127.0.0.1", port: targetPort });
    const pair: Pair = { client, upstream, silenced: false };
    pairs.add(pair);
    client.on("data", (chunk) => {
      if (!pair.silenced) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!pair.silenced) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    // A silenced connection's upstream may close (the old server went away): the client must not
    // hear of it, which is the point.
    upstream.on("close", () => {
      if (!pair.silenced) end();
    });
    upstream.on("error", () => undefined);
    client.on("close", end);
    client.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    silenceOpenConnections() {
      for (const pair of pairs) pair.silenced = true;
    },
    connections: () => accepted,
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
