// BullMQ against bigstep state: jobs through Lua scripts, the worker's
// BZPOPMIN marker wait, retries, delayed jobs, and QueueEvents reading the
// events stream with XREAD BLOCK (written by XADD MAXLEN ~ inside Lua).
//
// Usage: node bullmq.cjs PORT   (exit 0 = all good)
const { Queue, Worker, QueueEvents } = require("bullmq");

const port = Number(process.argv[2]);
const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

async function until(cond, what, ms = 20000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

(async () => {
  const name = "jobs";
  const queue = new Queue(name, { connection, streams: { events: { maxLen: 100 } } });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  const completed = new Map();
  const failed = new Map();
  // Return values arrive JSON-decoded or as text depending on the version.
  events.on("completed", ({ jobId, returnvalue }) => completed.set(jobId, String(returnvalue)));
  events.on("failed", ({ jobId, failedReason }) => failed.set(jobId, failedReason));

  let attemptsSeen = 0;
  const worker = new Worker(
    name,
    async (job) => {
      if (job.name === "flaky") {
        attemptsSeen++;
        if (job.attemptsMade < 1) throw new Error("first try fails");
      }
      if (job.name === "bad") throw new Error("always fails");
      return job.data.n * 2;
    },
    { connection, concurrency: 4 },
  );
  await worker.waitUntilReady();

  const jobs = [];
  for (let i = 0; i < 30; i++) jobs.push(await queue.add("double", { n: i }));
  const flaky = await queue.add("flaky", { n: 100 }, { attempts: 2, backoff: { type: "fixed", delay: 50 } });
  const bad = await queue.add("bad", { n: 0 }, { attempts: 1 });
  const delayed = await queue.add("double", { n: 7 }, { delay: 300 });

  await until(() => completed.size >= 32 && failed.size >= 1, "all jobs to finish");
  for (const j of jobs) {
    check(completed.get(j.id) === String(j.data.n * 2), `return value of job ${j.id}: ${completed.get(j.id)}`);
  }
  check(completed.get(flaky.id) === "200", "flaky job retried and completed");
  check(attemptsSeen === 2, "flaky job ran twice");
  check(failed.get(bad.id) === "always fails", "failed reason");
  check(completed.get(delayed.id) === "14", "delayed job ran");

  const counts = await queue.getJobCounts("completed", "failed", "waiting", "active", "delayed");
  check(counts.completed === 32 && counts.failed === 1, "counts " + JSON.stringify(counts));
  check(counts.waiting === 0 && counts.active === 0 && counts.delayed === 0, "drained " + JSON.stringify(counts));
  const state = await (await queue.getJob(bad.id)).getState();
  check(state === "failed", "state of failed job: " + state);

  // The events stream is trimmed approximately inside Lua, never unbounded.
  const IORedis = require("ioredis");
  const client = new (IORedis.default || IORedis.Redis || IORedis)({ host: "127.0.0.1", port });
  const len = await client.xlen(`bull:${name}:events`);
  client.disconnect();
  check(len > 0 && len < 300, "events stream length " + len);

  await worker.close();
  await events.close();
  await queue.close();
  console.log("bullmq ok");
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
