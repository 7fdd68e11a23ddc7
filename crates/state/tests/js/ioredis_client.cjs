// ioredis (the client under BullMQ, NestJS and many Node apps) against a Redis
// server: pipelines, MULTI, custom Lua commands (EVALSHA with EVAL fallback),
// scanStream, pub/sub, blocking pop, and the cluster-free command helpers.
// Usage: node ioredis_client.cjs PORT   (NODE_PATH must point at .ci/node/node_modules)
const Redis = require('ioredis');

const port = Number(process.argv[2]);

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

(async () => {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  await r.flushdb();
  check((await r.set('k', 'v', 'EX', 100)) === 'OK', 'set ex');
  check((await r.ttl('k')) > 90, 'ttl');
  const res = await r.pipeline().set('a', 1).incr('a').hset('h', { f1: 'x', f2: 'y' }).hgetall('h').exec();
  check(res[1][1] === 2 && res[3][1].f2 === 'y', 'pipeline ' + JSON.stringify(res));
  const tx = await r.multi().incr('n').incr('n').exec();
  check(tx[1][1] === 2, 'multi');
  r.defineCommand('incrCapped', {
    numberOfKeys: 1,
    lua: "local v = redis.call('incr', KEYS[1]) if v > tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1]) return tonumber(ARGV[1]) end return v",
  });
  await r.script('FLUSH');
  check((await r.incrCapped('cap', 2)) === 1, 'lua via EVALSHA fallback to EVAL');
  await r.incrCapped('cap', 2);
  check((await r.incrCapped('cap', 2)) === 2, 'lua cached');
  for (let i = 0; i < 50; i++) await r.set('scan:' + i, i);
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const s = r.scanStream({ match: 'scan:*', count: 7 });
    s.on('data', (keys) => keys.forEach((k) => seen.add(k)));
    s.on('end', resolve);
    s.on('error', reject);
  });
  check(seen.size === 50, 'scanStream saw ' + seen.size);
  await r.zadd('z', 1, 'a', 2, 'b', 3, 'c');
  check(JSON.stringify(await r.zrange('z', 0, -1, 'WITHSCORES')) === '["a","1","b","2","c","3"]', 'zrange');
  check((await r.zrangebylex('z', '-', '+')).length === 3, 'zrangebylex');

  const sub = r.duplicate();
  const got = new Promise((resolve) => sub.on('message', (ch, m) => resolve(m)));
  await sub.subscribe('news');
  await r.publish('news', 'hello');
  check((await got) === 'hello', 'pub/sub');
  sub.disconnect();

  const blocker = r.duplicate();
  setTimeout(() => r.rpush('jobs', 'j1'), 100);
  const popped = await blocker.blpop('jobs', 5);
  check(popped && popped[1] === 'j1', 'blpop ' + JSON.stringify(popped));
  blocker.disconnect();
  const info = await r.info('server');
  check(/redis_version:7\./.test(info), 'info');
  r.disconnect();
  console.log('ioredis: all checks passed');
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
