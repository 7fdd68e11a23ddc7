// express-session with connect-redis (node-redis 5) against a Redis server: real
// HTTP requests to an express app on port 0 with a cookie jar; the session
// persists across requests, has a TTL, touch() refreshes it, destroy() removes
// it, and the store's all()/length()/clear() (SCAN + MGET) work.
// Usage: node express_session.cjs PORT   (NODE_PATH must point at .ci/node/node_modules)
const http = require('http');
const express = require('express');
const session = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient } = require('redis');

const port = Number(process.argv[2]);

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

function get(base, path, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, { headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, setCookie: res.headers['set-cookie'] }));
    });
    req.setTimeout(10000, () => req.destroy(new Error('http timeout')));
    req.on('error', reject);
  });
}

(async () => {
  const client = createClient({ url: `redis://127.0.0.1:${port}` });
  client.on('error', (e) => { console.error('client error', e); process.exit(1); });
  await client.connect();
  await client.flushDb();
  const store = new RedisStore({ client, prefix: 'sess:', ttl: 600 });

  const app = express();
  app.use(session({ store, secret: 'test-secret', resave: false, saveUninitialized: false, rolling: false }));
  app.get('/visit', (req, res) => {
    req.session.views = (req.session.views || 0) + 1;
    res.send(String(req.session.views));
  });
  app.get('/peek', (req, res) => res.send(String(req.session.views || 0)));
  app.get('/logout', (req, res) => req.session.destroy(() => res.send('bye')));
  const server = await new Promise((r) => { const s = app.listen(0, '127.0.0.1', () => r(s)); });
  const base = `http://127.0.0.1:${server.address().port}`;

  let r = await get(base, '/visit');
  check(r.body === '1', 'first visit ' + r.body);
  check(r.setCookie, 'session cookie set');
  const jar = r.setCookie[0].split(';')[0];
  const sid = decodeURIComponent(jar.split('=')[1]).slice(2).split('.')[0];
  r = await get(base, '/visit', jar);
  check(r.body === '2', 'second visit ' + r.body);
  r = await get(base, '/visit', jar);
  check(r.body === '3', 'third visit ' + r.body);
  check(JSON.parse(await client.get('sess:' + sid)).views === 3, 'stored JSON');
  const ttl = await client.ttl('sess:' + sid);
  check(ttl > 500 && ttl <= 600, 'ttl ' + ttl);
  // An unmodified session is touched (EXPIRE), not rewritten.
  await client.expire('sess:' + sid, 100);
  r = await get(base, '/peek', jar);
  check(r.body === '3', 'peek ' + r.body);
  check((await client.ttl('sess:' + sid)) > 500, 'touch refreshed ttl');
  // Another browser gets another session.
  r = await get(base, '/visit');
  check(r.body === '1', 'second browser');
  check((await new Promise((res, rej) => store.length((e, n) => (e ? rej(e) : res(n))))) === 2, 'store.length');
  const all = await new Promise((res, rej) => store.all((e, v) => (e ? rej(e) : res(v))));
  check(all.length === 2, 'store.all ' + JSON.stringify(all));
  r = await get(base, '/logout', jar);
  check((await client.exists('sess:' + sid)) === 0, 'destroy removed the session');
  r = await get(base, '/peek', jar);
  check(r.body === '0', 'after logout');
  await new Promise((res, rej) => store.clear((e) => (e ? rej(e) : res())));
  check((await client.keys('sess:*')).length === 0, 'store.clear');

  server.close();
  await client.quit();
  console.log('express-session: all checks passed');
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
