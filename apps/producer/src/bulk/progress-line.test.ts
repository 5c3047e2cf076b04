import { describe, expect, it } from "vitest";
import { bar, createProgressLine, formatDuration, rateAndEta } from "./progress-line.ts";

function fakeStream(tty: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY: tty, write: (text: string) => writes.push(text) } };
}

describe("createProgressLine", () => {
  it("in a log, prints about one line per tenth however many updates come, and always the last word", () => {
    const { writes, stream } = fakeStream(false);
    let clock = 0;
    const progress = createProgressLine({ stream, now: () => clock });
    for (let done = 1; done <= 10_000; done += 1) {
      clock += 2; // 10,000 updates over 20 s
      progress.update(`${done}/10000`, done / 10_000);
    }
    progress.done("10000 done");
    expect(writes.length).toBeGreaterThanOrEqual(9);
    expect(writes.length).toBeLessThanOrEqual(12);
    expect(writes.every((line) => line.endsWith("\n") && !line.includes("\r"))).toBe(true);
    expect(writes.at(-1)).toBe("10000 done\n");
  });

  it("in a log, a phase done within a second prints only its last word", () => {
    const { writes, stream } = fakeStream(false);
    let clock = 0;
    const progress = createProgressLine({ stream, now: () => clock });
    for (let done = 1; done <= 100; done += 1) {
      clock += 5;
      progress.update(`${done}/100`, done / 100);
    }
    progress.done("listed 100 sources");
    expect(writes).toEqual(["listed 100 sources\n"]);
  });

  it("in a log, with no total, prints a changed line every few seconds", () => {
    const { writes, stream } = fakeStream(false);
    let clock = 0;
    const progress = createProgressLine({ stream, now: () => clock, everyMs: 5_000 });
    for (let n = 1; n <= 120; n += 1) {
      clock += 100; // 12 s
      progress.update(`listed ${n * 1000}`);
    }
    // The first update (at 0.1 s) starts the clock: lines at 5.1 s and 10.1 s.
    expect(writes).toEqual(["listed 51000\n", "listed 101000\n"]);
  });

  it("on a terminal, redraws one line in place at most every redraw interval", () => {
    const { writes, stream } = fakeStream(true);
    let clock = 0;
    const progress = createProgressLine({ stream, now: () => clock, redrawMs: 100 });
    for (let n = 1; n <= 100; n += 1) {
      clock += 10; // 1 s
      progress.update(`${n}/100`, n / 100);
    }
    progress.done("100 done");
    expect(writes.length).toBe(11);
    expect(writes.slice(0, -1).every((text) => text.startsWith("\r\x1b[2K") && !text.includes("\n"))).toBe(
      true,
    );
    expect(writes.at(-1)).toBe("\r\x1b[2K100 done\n");
  });
});

describe("formatting", () => {
  it("gives rates, times left, durations and bars people read at a glance", () => {
    expect(rateAndEta(50, 150, 10_000)).toBe("  5.0/s  ETA 30.0 s");
    expect(rateAndEta(1_200, 0, 10_000)).toBe("  120/s");
    expect(rateAndEta(0, 10, 1_000)).toBe("");
    expect(formatDuration(250)).toBe("250 ms");
    expect(formatDuration(90_500)).toBe("1 min 31 s");
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000)).toBe("2 h 5 min");
    expect(bar(0.5, 10)).toBe("[#####.....]");
    expect(bar(2, 4)).toBe("[####]");
  });
});
