/**
 * Ctrl-C as a request, not a kill: each phase decides what stopping means (a listing stops at once,
 * an enqueue finishes its chunk, a follow stops following and leaves the batch running). A second
 * Ctrl-C leaves at once.
 */

class InterruptedError extends Error {
  readonly code = "interrupted";
  constructor() {
    super("interrupted (Ctrl-C)");
    this.name = "InterruptedError";
  }
}

export interface Interrupt {
  readonly requested: boolean;
  readonly signal: AbortSignal;
  dispose(): void;
}

/** The exit code of a process stopped by SIGINT, as shells report it (128 + 2). */
export const INTERRUPTED_EXIT_CODE = 130;

export function watchInterrupt(target: Pick<NodeJS.Process, "on" | "off" | "exit"> = process): Interrupt {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) target.exit(INTERRUPTED_EXIT_CODE);
    controller.abort(new InterruptedError());
  };
  target.on("SIGINT", onSigint);
  return {
    get requested() {
      return controller.signal.aborted;
    },
    signal: controller.signal,
    dispose: () => target.off("SIGINT", onSigint),
  };
}

export function isInterruption(error: unknown, interrupt: Interrupt): boolean {
  return (
    interrupt.requested && (error instanceof InterruptedError || (error as Error)?.name === "AbortError")
  );
}
