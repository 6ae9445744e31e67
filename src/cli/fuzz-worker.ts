// One fuzz worker: runs its sub-shard of the campaign until the deadline, posting
// progress now and then and the result at the end.
import { parentPort, workerData } from "node:worker_threads";
import { runCampaign, type Shard } from "../adversary/fuzz/campaign.ts";

interface Job {
  seed: number;
  shard: Shard;
  configs: Record<string, unknown>[];
  deadline: number;
  maxIterations: number;
}

const job = workerData as Job;
const result = runCampaign({
  seed: job.seed,
  shard: job.shard,
  configs: job.configs,
  stop: (n) => n >= job.maxIterations || Date.now() >= job.deadline,
  onProgress: (p) => parentPort!.postMessage({ type: "progress", shard: job.shard, ...p }),
});
parentPort!.postMessage({ type: "done", result });
