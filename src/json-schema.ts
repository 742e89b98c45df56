/**
 * JSON Schema validation with ajv (draft-07 and the common 2019/2020 keywords), for the generation tools: the output
 * of a json_schema-constrained call is checked against the whole schema (node-llama-cpp's grammar covers a subset).
 * Messages name the field. (Action arguments are enforced by z.fromJSONSchema, in actions/loader.ts.)
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
addFormats(ajv);

const cache = new Map<string, ValidateFunction>();

export class SchemaError extends Error {}

/** Compiles a schema once (by its JSON text); throws SchemaError when the schema itself is invalid. */
export function compileSchema(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = cache.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema as object);
    } catch (error) {
      throw new SchemaError(error instanceof Error ? error.message : String(error));
    }
    if (cache.size > 256) cache.delete(cache.keys().next().value!);
    cache.set(key, validate);
  }
  return validate;
}

/** "field: message" lines for a failed validation. */
export function schemaProblems(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const path = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "";
    const field =
      e.keyword === "required"
        ? [path, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join(".")
        : e.keyword === "additionalProperties"
          ? [path, (e.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join(".")
          : path || "(value)";
    const detail =
      e.keyword === "enum" ? `${e.message}: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}` : e.message;
    return `${field}: ${e.keyword === "additionalProperties" ? "unknown field" : detail}`;
  });
}
