/**
 * Progress for people and for logs. On a terminal one line is redrawn in place (at most every
 * `redrawMs`); elsewhere (CI, a log file) a line is printed when the work crosses another tenth (at
 * most one a second), or when `everyMs` passed and the text changed: a run of 100,000 jobs prints
 * about ten lines, not 100,000, and a phase done within a second prints only its last word.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressLine {
  /** `fraction` (0..1) when the total is known. */
  update(text: string, fraction?: number): void;
  /** The last word: always printed, on its own line. */
  done(text: string): void;
}

export function createProgressLine({
  stream,
  now = Date.now,
  tty = stream.isTTY === true,
  everyMs = 5_000,
  redrawMs = 100,
  minGapMs = 1_000,
}: {
  stream: ProgressStream;
  now?: () => number;
  tty?: boolean;
  everyMs?: number;
  redrawMs?: number;
  minGapMs?: number;
}): ProgressLine {
  let startedAt: number | undefined;
  let lastAt = Number.NEGATIVE_INFINITY;
  let lastText = "";
  let lastTenth = -1;
  let drawn = false;
  return {
    update(text, fraction) {
      const at = now();
      startedAt ??= at;
      if (tty) {
        if (at - lastAt < redrawMs) return;
        stream.write(`\r\x1b[2K${text}`);
        drawn = true;
      } else {
        const tenth = fraction === undefined ? lastTenth : Math.floor(Math.min(1, fraction) * 10);
        const quiet = Math.min(at - lastAt, at - startedAt);
        const crossed = tenth > lastTenth && quiet >= minGapMs;
        if (!crossed && (quiet < everyMs || text === lastText)) return;
        stream.write(`${text}\n`);
        lastTenth = Math.max(lastTenth, tenth);
      }
      lastAt = at;
      lastText = text;
    },
    done(text) {
      stream.write(tty && drawn ? `\r\x1b[2K${text}\n` : `${text}\n`);
      drawn = false;
      startedAt = undefined;
      lastAt = Number.NEGATIVE_INFINITY;
      lastText = "";
      lastTenth = -1;
    },
  };
}

/** Events per second over the time since `startedAt`, with an estimate of the time left. */
export function rateAndEta(done: number, remaining: number, elapsedMs: number): string {
  if (done === 0 || elapsedMs <= 0) return "";
  const perSecond = (done * 1000) / elapsedMs;
  const eta = remaining > 0 ? `  ETA ${formatDuration((remaining / perSecond) * 1000)}` : "";
  return `  ${perSecond >= 10 ? Math.round(perSecond) : perSecond.toFixed(1)}/s${eta}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A bar of `width` cells, for a terminal. */
export function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}
