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
  /**
   * An outage of the target: the open connections are reset and the port stops listening, so new
   * connections are refused, until `restore` listens on the same port again. With `{ counting: true }`
   * the port keeps listening instead and resets each new connection once its first bytes came, so
   * that what the clients asked during the outage can be told (`cutRequests`).
   */
  cut(options?: { counting?: boolean }): Promise<void>;
  /** The first line (an HTTP request line) of each connection reset by a counting cut. */
  cutRequests(): string[];
  restore(): Promise<void>;
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
  let counting = false;
  const cutRequests: string[] = [];
  const server: Server = createServer((client) => {
    accepted += 1;
    if (counting) {
      const reset = () => {
        clearTimeout(timer);
        if (!client.destroyed) client.resetAndDestroy();
      };
      // A client that says nothing is reset too, after a while.
      const timer = setTimeout(reset, 1000);
      client.once("data", (chunk) => {
        cutRequests.push(chunk.toString("latin1").split("\r\n", 1)[0]!);
        reset();
      });
      client.on("error", () => undefined);
      return;
    }
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
  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(at, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  /** An outage resets the clients' connections (they see ECONNRESET, as from a server gone); a close just ends them. */
  const dropAll = (reset: boolean) => {
    for (const pair of pairs) {
      if (reset) pair.client.resetAndDestroy();
      else pair.client.destroy();
      pair.upstream.destroy();
    }
    pairs.clear();
  };
  const stopListening = () =>
    server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
  await listen(0);
  const { port } = server.address() as AddressInfo;
  return {
    port,
    silenceOpenConnections() {
      for (const pair of pairs) pair.silenced = true;
    },
    async cut(options) {
      if (options?.counting) {
        counting = true;
        dropAll(true);
        return;
      }
      const stopped = stopListening();
      dropAll(true);
      await stopped;
    },
    cutRequests: () => [...cutRequests],
    async restore() {
      if (counting) counting = false;
      else await listen(port);
    },
    connections: () => accepted,
    async close() {
      const stopped = stopListening();
      dropAll(false);
      await stopped;
    },
  };
}
