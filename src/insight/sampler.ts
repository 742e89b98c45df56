/**
 * llama.cpp's sampler chain, as node-llama-cpp 3.21.1 runs it, made visible: top-k, then top-p, then min-p, then
 * temperature, each on what the stage before kept (top-p on the kept tokens' renormalised probabilities; min-p
 * relative to the best kept one), the survivors' probabilities after temperature renormalised to sum to 1. Pure
 * arithmetic over the whole distribution (sorted, highest first), in log space so nothing underflows.
 */

export interface SamplerSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
}

export interface Stage {
  /** The model's probability (softmax at temperature 1). */
  probability: number;
  /** The whole distribution at this temperature (before any cut): what temperature alone does. */
  afterTemperature: number;
  /** Top-k, top-p and min-p keep it. */
  kept: boolean;
  /** The probability of being sampled, after every stage (0 when cut). */
  pSample: number;
}

/** The stages for every token of a distribution sorted highest first; `kept` tells how many survive. */
export function samplerStages(probabilities: readonly number[], s: SamplerSettings): { stages: Stage[]; kept: number } {
  const n = probabilities.length;
  const greedy = s.temperature === 0;
  // After temperature alone: p^(1/T) renormalised over the whole vocabulary.
  const logs = probabilities.map((p) => (p > 0 ? Math.log(p) : -Infinity));
  const afterT = greedy ? probabilities.map((_, i) => (i === 0 ? 1 : 0)) : softmax(logs.map((l) => l / s.temperature));
  // top-k
  let keep = s.topK > 0 ? Math.min(s.topK, n) : n;
  // top-p, on the top-k survivors renormalised: the shortest prefix whose mass reaches top_p (at least one token).
  if (s.topP < 1) {
    const mass = sum(probabilities.slice(0, keep));
    let cumulative = 0;
    for (let i = 0; i < keep; i++) {
      cumulative += probabilities[i]! / mass;
      if (cumulative >= s.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  // min-p: at least min_p times the best kept token's probability.
  if (s.minP > 0 && keep > 0) {
    const floor = probabilities[0]! * s.minP;
    let last = 1;
    for (let i = 1; i < keep; i++) if (probabilities[i]! >= floor) last = i + 1;
    keep = last;
  }
  if (greedy) keep = Math.min(keep, 1);
  const sampled = greedy ? [1] : softmax(logs.slice(0, keep).map((l) => l / s.temperature));
  const stages = probabilities.map((p, i) => ({ probability: p, afterTemperature: afterT[i]!, kept: i < keep, pSample: i < keep ? sampled[i]! : 0 }));
  return { stages, kept: keep };
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits.filter((l) => l !== -Infinity), -Infinity);
  if (max === -Infinity) return logits.map(() => 0);
  const exps = logits.map((l) => (l === -Infinity ? 0 : Math.exp(l - max)));
  const total = sum(exps);
  return exps.map((e) => e / total);
}
