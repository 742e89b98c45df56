/** read_url: a page's main content as Markdown, paged by the model's tokens. */
import { z } from "zod";
import { ToolError } from "../errors.js";
import { defineTool } from "../tool.js";
import { characterPager, CHARS_PER_TOKEN, tokenPager, type Pager } from "./paging.js";
import { SEARCHES, type SearchCore } from "./shared.js";

export const readUrl = (core: SearchCore) =>
defineTool({
  name: "read_url",
  title: "Read a web page",
  description:
    "Fetches a page and returns its main content as Markdown (title, byline, headings and links kept; navigation " +
    "and ads dropped), paged by the loaded model's tokens: pass next_offset back as offset to read on. Handles HTML, " +
    "plain text, Markdown and JSON. Only public http(s) addresses are read, unless the server allows more.",
  input: z.strictObject({
    url: z.string().min(1).max(4096).describe("An absolute http:// or https:// URL"),
    max_tokens: z.number().int().min(16).max(100_000).default(2000).describe("Most tokens of content to return"),
    offset: z.number().int().min(0).default(0).describe("Where to start, from next_offset of a previous call"),
  }),
  output: z.object({
    url: z.string(),
    final_url: z.string().describe("After redirects"),
    title: z.string(),
    byline: z.string().nullable(),
    site: z.string().nullable(),
    published: z.string().nullable(),
    kind: z.enum(["html", "text", "markdown", "json"]),
    extraction: z.enum(["readability", "body", "none"]),
    unit: z.enum(["tokens", "characters"]).describe("What offset, next_offset and total count"),
    unit_note: z.string().optional(),
    offset: z.number().int(),
    next_offset: z.number().int().nullable().describe("Pass as offset to read the rest; null at the end"),
    total: z.number().int(),
    content: z.string(),
    cached: z.boolean(),
  }),
  annotations: SEARCHES,
  async run(args, ctx) {
    const read = await core.readDocument(args.url, ctx.signal);
    const { tokenizer, why } = await core.tokenizer(ctx);
    let pager: Pager | undefined;
    let note: string | undefined;
    if (tokenizer) {
      pager = await tokenPager(read.text, tokenizer);
      if (!pager) note = `paged by characters (${CHARS_PER_TOKEN} per token): this tokenizer's pieces do not add up to the text`;
    } else note = `paged by characters (${CHARS_PER_TOKEN} per token): no tokenizer (${why})`;
    pager ??= characterPager(read.text);
    if (args.offset > pager.total) {
      throw new ToolError(`offset ${args.offset} is past the end of the page (${pager.total} ${pager.unit}).`, {
        hint: "Use next_offset from the previous call; start at 0.",
      });
    }
    const page = pager.page(args.offset, args.max_tokens);
    const structured = {
      url: args.url,
      final_url: read.final,
      title: read.doc.title,
      byline: read.doc.byline,
      site: read.doc.site,
      published: read.doc.published,
      kind: read.doc.kind,
      extraction: read.doc.extraction,
      unit: pager.unit,
      ...(note ? { unit_note: note } : {}),
      offset: page.offset,
      next_offset: page.nextOffset,
      total: page.total,
      content: page.text,
      cached: read.cached,
    };
    const footer =
      page.nextOffset === null
        ? `[end of page: ${pager.unit} ${page.offset}-${page.total} of ${page.total}]`
        : `[${pager.unit} ${page.offset}-${page.nextOffset} of ${page.total}; more: offset ${page.nextOffset}]`;
    return { structured, text: `${page.text}\n\n${footer}` };
  },
});
