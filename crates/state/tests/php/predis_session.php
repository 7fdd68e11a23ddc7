<?php
// Predis (Debian php-predis) against a Redis server: PHP's own session_start()
// with Predis\Session\Handler as the save handler (SETEX / GET / DEL), plus the
// client calls apps make (pipelines, MULTI, Lua, SCAN iterator).
// Usage: php predis_session.php PORT   (exit 0 = all good)
require '/usr/share/php/Predis/Autoloader.php';
Predis\Autoloader::register();

function check($cond, $what) {
    if (!$cond) {
        fwrite(STDERR, "check failed: $what\n");
        exit(1);
    }
}

$port = (int)$argv[1];
$client = new Predis\Client(['host' => '127.0.0.1', 'port' => $port, 'read_write_timeout' => 10]);
$client->flushdb();

ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
$handler = new Predis\Session\Handler($client, ['gc_maxlifetime' => 300]);
$handler->register();

// Request 1: start a session, write it.
session_id('predis1');
check(session_start(), 'session_start');
$_SESSION['user'] = 'alice';
$_SESSION['n'] = 1;
session_write_close();
check($client->exists('predis1') === 1, 'session stored under its id');
$ttl = $client->ttl('predis1');
check($ttl > 0 && $ttl <= 300, "session ttl $ttl");

// Request 2: the same id reads it back and updates it.
$_SESSION = [];
session_id('predis1');
check(session_start(), 'session_start again');
check(($_SESSION['user'] ?? null) === 'alice', 'session read back');
$_SESSION['n']++;
session_write_close();
$_SESSION = [];
session_id('predis1');
session_start();
check($_SESSION['n'] === 2, 'session updated');
session_destroy();
check($client->exists('predis1') === 0, 'session_destroy deletes');

// Client features apps rely on.
$res = $client->pipeline(function ($p) {
    $p->set('a', 1);
    $p->incr('a');
    $p->get('a');
});
check($res[2] === '2', 'pipeline');
$res = $client->transaction(function ($tx) {
    $tx->lpush('q', 'x', 'y');
    $tx->lrange('q', 0, -1);
});
check($res[1] === ['y', 'x'], 'transaction');
check($client->eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, 'a', 5) === 7, 'eval');
for ($i = 0; $i < 30; $i++) {
    $client->set("scan:$i", $i);
}
$n = 0;
foreach (new Predis\Collection\Iterator\Keyspace($client, 'scan:*', 7) as $k) {
    $n++;
}
check($n === 30, "keyspace iterator saw $n");
$client->hmset('h', ['f1' => 'v1', 'f2' => 'v2']);
check($client->hgetall('h') == ['f1' => 'v1', 'f2' => 'v2'], 'hgetall');
check($client->zadd('z', ['m' => 1.5]) === 1 && $client->zscore('z', 'm') === '1.5', 'zset');
echo "predis: all checks passed\n";
