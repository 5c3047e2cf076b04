/**
 * The README's shell blocks as the README test runs them: every ```sh fence, its annotation (the
 * HTML comment on the line above: `<!-- doc-test: skip: <why> -->` or `<!-- doc-test: stack -->`),
 * and its commands, each with the exit code it should end with (0, or the one its comment names:
 * "exit code 3", on its line or in the comment lines right above it).
 */

type BlockAnnotation = { kind: "run" } | { kind: "stack" } | { kind: "skip"; reason: string };

export interface ShellCommand {
  /** 1-based line of the README where the command starts. */
  line: number;
  /** The command as written (continuation lines and comments included): run as is by bash. */
  text: string;
  /** The command without comments, on one line: what key facts are matched against. */
  code: string;
  expectedExit: number;
}

export interface ShellBlock {
  line: number;
  annotation: BlockAnnotation;
  commands: ShellCommand[];
}

const ANNOTATION = /^<!--\s*doc-test:\s*(.*?)\s*-->$/;

export function readmeShellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split("\n");
  const blocks: ShellBlock[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const fence = /^```(\S*)/.exec(lines[index]!);
    if (!fence) continue;
    const end = lines.findIndex((line, at) => at > index && line.startsWith("```"));
    if (end < 0) throw new Error(`README line ${index + 1}: a code block is not closed`);
    if (fence[1] === "sh") {
      blocks.push({
        line: index + 1,
        annotation: annotationOf(lines[index - 1] ?? "", index),
        commands: splitCommands(lines.slice(index + 1, end), index + 2),
      });
    }
    index = end;
  }
  return blocks;
}

function annotationOf(previous: string, index: number): BlockAnnotation {
  const match = ANNOTATION.exec(previous.trim());
  if (!match) return { kind: "run" };
  const [word, ...rest] = match[1]!.split(":");
  const reason = rest.join(":").trim();
  if (word === "stack" && !reason) return { kind: "stack" };
  if (word === "skip" && reason) return { kind: "skip", reason };
  throw new Error(
    `README line ${index}: "${previous.trim()}" is not a doc-test annotation: write <!-- doc-test: skip: <why> --> or <!-- doc-test: stack -->`,
  );
}

/**
 * Commands of a block: a line ending in `\` goes on to the next, and so does an open quote (a JSON
 * body across lines). A comment is `#` at the start of a word outside quotes.
 */
export function splitCommands(lines: readonly string[], firstLine: number): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let commentsAbove: string[] = [];
  let current: { line: number; text: string[]; code: string[]; comments: string[] } | undefined;
  let quote: "'" | '"' | undefined;
  for (const [offset, line] of lines.entries()) {
    const scanned = scanLine(line, quote);
    quote = scanned.quote;
    if (!current) {
      if (scanned.code.trim() === "") {
        // A comment line or a blank one: comments above the next command, until a blank line.
        commentsAbove = scanned.comment === undefined ? [] : [...commentsAbove, scanned.comment];
        continue;
      }
      current = { line: firstLine + offset, text: [], code: [], comments: commentsAbove };
      commentsAbove = [];
    }
    current.text.push(line);
    current.code.push(scanned.code.replace(/\\\s*$/, "").trim());
    if (scanned.comment !== undefined) current.comments.push(scanned.comment);
    if (quote || /\\\s*$/.test(scanned.code)) continue;
    commands.push({
      line: current.line,
      text: current.text.join("\n"),
      code: current.code.filter(Boolean).join(" "),
      expectedExit: expectedExitOf(current.comments),
    });
    current = undefined;
  }
  if (current)
    throw new Error(
      `README line ${current.line}: a command is not finished (an open quote or a trailing \\)`,
    );
  return commands;
}

function expectedExitOf(comments: readonly string[]): number {
  for (const comment of comments) {
    const match = /\bexit code (\d+)\b/.exec(comment);
    if (match) return Number(match[1]);
  }
  return 0;
}

/** A line's code and comment, given the quote open at its start; returns the quote open at its end. */
function scanLine(
  line: string,
  open: "'" | '"' | undefined,
): { code: string; comment: string | undefined; quote: "'" | '"' | undefined } {
  let quote = open;
  for (let at = 0; at < line.length; at += 1) {
    const char = line[at]!;
    if (quote === "'") {
      if (char === "'") quote = undefined;
    } else if (char === "\\") {
      at += 1;
    } else if (quote === '"') {
      if (char === '"') quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === "#" && (at === 0 || /\s/.test(line[at - 1]!))) {
      return { code: line.slice(0, at), comment: line.slice(at + 1).trim(), quote };
    }
  }
  return { code: line, comment: undefined, quote };
}
