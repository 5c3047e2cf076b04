import { describe, expect, it } from "vitest";
import { readmeShellBlocks, splitCommands } from "./readme-blocks.ts";

describe("the README's shell blocks", () => {
  it("reads commands across continuations and open quotes, with the exit code their comment names", () => {
    const commands = splitCommands(
      [
        "# the plan only",
        "./reframe bulk --source s3://b/p/ --dry-run",
        "",
        "# a budget below the estimate is refused: exit code 3, nothing enqueued",
        "./reframe bulk --source s3://b/p/ --max-cost 0.50",
        'curl -s -X POST "$API_URL/v1/jobs" -d \'{',
        '  "a": "# not a comment"}\'   # → 202',
        "job=$(./reframe enqueue --source s3://b/k.jpg --target 1:1 \\",
        "  | cut -d' ' -f1)",
        "./reframe enqueue --source s3://b/missing.jpg --target 1:1 --wait   # fails: exit code 1",
      ],
      10,
    );
    expect(commands.map(({ line, code, expectedExit }) => ({ line, code, expectedExit }))).toEqual([
      { line: 11, code: "./reframe bulk --source s3://b/p/ --dry-run", expectedExit: 0 },
      { line: 14, code: "./reframe bulk --source s3://b/p/ --max-cost 0.50", expectedExit: 3 },
      {
        line: 15,
        code: 'curl -s -X POST "$API_URL/v1/jobs" -d \'{ "a": "# not a comment"}\'',
        expectedExit: 0,
      },
      {
        line: 17,
        code: "job=$(./reframe enqueue --source s3://b/k.jpg --target 1:1 | cut -d' ' -f1)",
        expectedExit: 0,
      },
      {
        line: 19,
        code: "./reframe enqueue --source s3://b/missing.jpg --target 1:1 --wait",
        expectedExit: 1,
      },
    ]);
    expect(commands[2]!.text).toBe(
      'curl -s -X POST "$API_URL/v1/jobs" -d \'{\n  "a": "# not a comment"}\'   # → 202',
    );
  });

  it("takes the annotation from the line above the fence, and refuses a skip without its reason", () => {
    const blocks = readmeShellBlocks(
      [
        "<!-- doc-test: skip: names your own bucket -->",
        "```sh",
        "aws s3 ls s3://my-bucket",
        "```",
        "<!-- doc-test: stack -->",
        "```sh",
        "npm run demo -- --serve",
        "```",
        "```",
        "output, not run",
        "```",
        "```sh",
        "./reframe --version",
        "```",
      ].join("\n"),
    );
    expect(blocks.map((block) => [block.line, block.annotation, block.commands.length])).toEqual([
      [2, { kind: "skip", reason: "names your own bucket" }, 1],
      [6, { kind: "stack" }, 1],
      [12, { kind: "run" }, 1],
    ]);
    expect(() => readmeShellBlocks("<!-- doc-test: skip -->\n```sh\nls\n```")).toThrow(
      /doc-test: skip: <why>/,
    );
  });

  it("refuses a command left open", () => {
    expect(() => splitCommands(["echo 'unclosed"], 1)).toThrow(/line 1: a command is not finished/);
  });
});
