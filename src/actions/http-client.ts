/** undici (~60 ms to import) behind an ESM module of ours, loaded on the first http action; works alike from tsc and the bundle. */
export { request } from "undici";
