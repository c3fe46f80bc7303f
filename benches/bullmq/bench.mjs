// BullMQ, the baseline of `taskwheel-redis` in BENCHMARKS.md, driven by benches/src/bin/durable_vs_bullmq.rs on the
// same Redis: node bench.mjs PORT enqueue|process|delayed JOBS CONCURRENCY. Prints one JSON line.
//  enqueue:  enqueues JOBS immediate jobs with addBulk (1,000 at a time); reports the seconds it took.
//  process:  starts a Worker of CONCURRENCY and processes JOBS jobs already enqueued; reports the seconds.
//  delayed:  starts a Worker, enqueues JOBS jobs delayed 5–10 s (uniform), waits for all; reports the lateness
//            percentiles (start of processing minus timestamp + delay), in ms.
import { Queue, Worker } from 'bullmq';

const [port, mode, jobsText, concurrencyText] = process.argv.slice(2);
const jobs = Number(jobsText);
const concurrency = Number(concurrencyText);
const connection = { host: '127.0.0.1', port: Number(port) };
const now = () => performance.timeOrigin + performance.now(); // ms, sub-ms resolution
const queue = new Queue('bench', { connection });

async function enqueue(delay) {
  for (let i = 0; i < jobs; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(jobs, i + 1000); j++) {
      batch.push({ name: 'job', data: { i: j }, opts: delay ? { delay: delay(j) } : {} });
    }
    await queue.addBulk(batch);
  }
}

let lateness = [];
let finished;
const allDone = new Promise((resolve) => { finished = resolve; });
let done = 0;
const work = async (job) => {
  const late = now() - (job.timestamp + ((job.opts && job.opts.delay) || 0));
  if (mode === 'delayed') lateness.push(late);
};
const startWorker = () => {
  const worker = new Worker('bench', work, { connection, concurrency, autorun: true });
  worker.on('completed', () => { if (++done === jobs) finished(); });
  return worker;
};

const result = { mode, jobs, concurrency };
if (mode === 'enqueue') {
  const t = now();
  await enqueue(null);
  result.seconds = (now() - t) / 1000;
} else if (mode === 'process') {
  const t = now();
  const worker = startWorker();
  await allDone;
  result.seconds = (now() - t) / 1000;
  await worker.close();
} else {
  const worker = startWorker();
  await worker.waitUntilReady();
  let seed = 12345;
  const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  await enqueue(() => 5000 + Math.floor(random() * 5000));
  await allDone;
  await worker.close();
  lateness.sort((a, b) => a - b);
  const at = (q) => lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))];
  result.lateness_ms = { p50: at(0.5), p99: at(0.99), max: lateness[lateness.length - 1] };
}
await queue.close();
console.log(JSON.stringify(result));
