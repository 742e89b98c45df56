/** The tools/list answer, snapshotted so that every schema change is deliberate, and checked for the basics. */
import { expect, test } from "vitest";
import { connect } from "../helpers/harness.js";

test("every tool has a title, annotations, a description for a model, and an output schema", async () => {
  await using h = await connect();
  const { tools } = await h.client.listTools();
  for (const tool of tools) {
    expect(tool.name).toMatch(/^[a-z][a-z0-9_]{0,63}$/);
    expect(tool.title).toBeTruthy();
    expect(tool.annotations?.readOnlyHint).toBeTypeOf("boolean");
    expect(tool.annotations?.openWorldHint).toBeTypeOf("boolean");
    expect(tool.outputSchema?.type).toBe("object");
    expect(tool.description!.length).toBeGreaterThan(40);
  }
  expect(tools).toMatchSnapshot();
});
