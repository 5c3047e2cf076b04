import type { AddressInfo } from "node:net";
import { connect, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { startTcpProxy } from "./tcp-proxy.ts";

/** Connects, sends a line, and resolves with what came back, or the error's code. */
function exchange(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.on("data", (chunk) => {
      resolve(chunk.toString());
      socket.destroy();
    });
    socket.write("ping");
  });
}

describe("the TCP proxy's outage", () => {
  it("resets the open connections and refuses new ones until restored, on the same port", async () => {
    const echo = createServer((socket) => socket.on("data", (chunk) => socket.write(chunk)));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const proxy = await startTcpProxy({ targetPort: (echo.address() as AddressInfo).port });
    try {
      expect(await exchange(proxy.port)).toBe("ping");
      const open = connect({ host: "127.0.0.1", port: proxy.port });
      await new Promise((resolve) => open.once("connect", resolve));
      const ended = new Promise<string>((resolve) =>
        open.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "")),
      );
      await proxy.cut();
      expect(await ended).toBe("ECONNRESET");
      expect(await exchange(proxy.port)).toBe("ECONNREFUSED");
      await proxy.restore();
      expect(await exchange(proxy.port)).toBe("ping");
    } finally {
      await proxy.close();
      echo.close();
    }
  });

  it("a counting cut keeps listening, resets each new connection and records what it asked", async () => {
    const echo = createServer((socket) => socket.on("data", (chunk) => socket.write(chunk)));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const proxy = await startTcpProxy({ targetPort: (echo.address() as AddressInfo).port });
    try {
      await proxy.cut({ counting: true });
      expect(await exchange(proxy.port)).toBe("ECONNRESET");
      expect(await exchange(proxy.port)).toBe("ECONNRESET");
      expect(proxy.cutRequests()).toEqual(["ping", "ping"]);
      await proxy.restore();
      expect(await exchange(proxy.port)).toBe("ping");
      expect(proxy.cutRequests()).toHaveLength(2);
    } finally {
      await proxy.close();
      echo.close();
    }
  });
});
