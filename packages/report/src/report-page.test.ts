import { describe, expect, it } from "vitest";
import { escapeHtml, renderReportPage } from "./report-page.ts";

describe("renderReportPage", () => {
  it("escapes keys, captions and provider messages, in text and in attributes", () => {
    const html = renderReportPage({
      title: "batch <b>",
      summary: [{ label: "failed", value: `1 (x"y)` }],
      notes: [],
      rows: [
        {
          title: `s3://src/<script>alert(1)</script>.jpg`,
          source: { file: `thumbs/a".webp`, caption: "source" },
          outputs: [{ caption: "16x9 → 910×512 & more" }],
          failures: [],
        },
      ],
      failures: [
        { source: "s3://src/'q'.jpg", target: "16x9", code: "x<y", message: `<img src=x onerror=alert(1)>` },
      ],
    });
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img src=x");
    expect(html).toContain("s3://src/&lt;script&gt;alert(1)&lt;/script&gt;.jpg");
    expect(html).toContain(`src="thumbs/a&quot;.webp"`);
    expect(html).toContain("16x9 → 910×512 &amp; more");
    expect(html).toContain("<td>s3://src/&#39;q&#39;.jpg</td><td>16x9</td><td>x&lt;y</td>");
    expect(html).toContain("<title>batch &lt;b&gt;</title>");
  });

  it("lists every failure in the table, and says why a picture is missing", () => {
    const failure = (n: number) => ({
      source: `s3://s/${n}.jpg`,
      target: "1x1",
      code: "sourceNotFound",
      message: "gone",
    });
    const html = renderReportPage({
      title: "t",
      summary: [],
      notes: ["Pictures for the first 1 of 3 sources; the others are listed by name."],
      rows: [
        {
          title: "s3://s/0.jpg",
          source: { caption: "source", missing: "no picture: NoSuchKey" },
          outputs: [],
          failures: [failure(0)],
        },
      ],
      failures: [failure(0), failure(1), failure(2)],
    });
    expect(html).toContain("Failures (3)");
    expect(html.match(/<tr><td>/g)).toHaveLength(3);
    expect(html).toContain(`<div class="missing">no picture: NoSuchKey</div>`);
    expect(html).toContain("Pictures for the first 1 of 3 sources");
  });

  it("escapes the five characters that matter and nothing else", () => {
    expect(escapeHtml(`a&b<c>d"e'f → ü`)).toBe("a&amp;b&lt;c&gt;d&quot;e&#39;f → ü");
  });
});
