// node-redis 5 against bigstep state over RESP3 (HELLO 3 path, CLIENT SETINFO).
// Usage: node node_redis.cjs PORT   (NODE_PATH must point at .ci/node/node_modules)
const { createClient } = require('redis');

const port = Number(process.argv[2]);

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

(async () => {
  const c = createClient({ url: `redis://127.0.0.1:${port}`, RESP: 3 });
  c.on('error', (e) => { console.error('client error', e); process.exit(1); });
  await c.connect();
  check((await c.ping()) === 'PONG', 'ping');
  await c.set('k', 'v', { EX: 100 });
  check((await c.get('k')) === 'v', 'get');
  check((await c.ttl('k')) > 90, 'ttl');
  await c.hSet('h', { a: '1', b: '2' });
  const h = await c.hGetAll('h');
  check(h.a === '1' && h.b === '2', 'hgetall map ' + JSON.stringify(h));
  await c.zAdd('z', [{ score: 1.5, value: 'a' }]);
  check((await c.zScore('z', 'a')) === 1.5, 'zscore double');
  const [n1, n2] = await c.multi().incr('n').incr('n').exec();
  check(n1 === 1 && n2 === 2, 'multi');
  const res = await c.eval("return redis.call('get', KEYS[1])", { keys: ['k'] });
  check(res === 'v', 'eval');

  // Pub/sub on a second connection (RESP3 push frames).
  const sub = c.duplicate();
  await sub.connect();
  const got = new Promise((resolve) => sub.subscribe('ch', (m) => resolve(m)));
  await new Promise((r) => setTimeout(r, 50));
  await c.publish('ch', 'hello');
  check((await got) === 'hello', 'pubsub');
  await sub.quit();

  // Blocking pop.
  setTimeout(() => c.duplicate().connect().then((p) => p.rPush('jobs', 'j1').then(() => p.quit())), 50);
  const b = await c.duplicate().connect().then((x) => x.blPop('jobs', 5));
  check(b && b.element === 'j1', 'blpop ' + JSON.stringify(b));

  await c.quit();
  console.log('node-redis: all checks passed');
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
