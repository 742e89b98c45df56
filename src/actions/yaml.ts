/** yaml (~30 ms to import) behind an ESM module of ours, loaded when there is YAML to read; works alike from tsc and the bundle. */
export { parseDocument } from "yaml";
