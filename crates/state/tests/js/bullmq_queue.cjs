// BullMQ (ioredis, Lua scripts) against a Redis server: a Queue adds jobs, a Worker
// processes them, a failing job is recorded as failed, a delayed job runs later,
// and the job counts agree.
// Usage: node bullmq_queue.cjs PORT   (NODE_PATH must point at .ci/node/node_modules)
const { Queue, Worker } = require('bullmq');

const port = Number(process.argv[2]);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

(async () => {
  const queue = new Queue('fw', { connection });
  await queue.obliterate({ force: true }).catch(() => {});
  const done = [];
  const failed = [];
  const worker = new Worker(
    'fw',
    async (job) => {
      if (job.name === 'fail') throw new Error('failed on purpose');
      return job.data.a + job.data.b;
    },
    { connection, concurrency: 2 },
  );
  worker.on('completed', (job, rv) => done.push([job.name, rv]));
  worker.on('failed', (job, err) => failed.push([job.name, err.message]));
  worker.on('error', (e) => { console.error('worker error', e); process.exit(1); });

  for (let i = 0; i < 5; i++) await queue.add('add', { a: i, b: 1 });
  await queue.add('fail', {}, { attempts: 1 });
  await queue.add('add', { a: 100, b: 1 }, { delay: 500 });

  const deadline = Date.now() + 30000;
  while ((done.length < 6 || failed.length < 1) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  check(done.length === 6, 'completed ' + JSON.stringify(done));
  check(failed.length === 1 && failed[0][1] === 'failed on purpose', 'failed ' + JSON.stringify(failed));
  const results = done.map(([, rv]) => rv).sort((a, b) => a - b);
  check(JSON.stringify(results) === JSON.stringify([1, 2, 3, 4, 5, 101]), 'results ' + results);
  const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'delayed', 'active');
  check(counts.completed === 6 && counts.failed === 1 && counts.waiting === 0 && counts.delayed === 0,
    'counts ' + JSON.stringify(counts));

  await worker.close();
  await queue.close();
  console.log('bullmq: all checks passed');
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
