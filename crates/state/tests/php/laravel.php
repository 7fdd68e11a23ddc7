<?php
// Laravel 8 components (Debian php-illuminate-*) against a Redis server through
// phpredis: the cache store (put/get/add/increment/many/remember/forever, atomic
// locks released by Lua, tags, flush) and the Redis queue (push, later, pop with
// its Lua scripts, blocking pop on the notify list, release, delete, size).
// Usage: php laravel.php PORT   (exit 0 = all good)
foreach (['Container', 'Redis', 'Cache', 'Queue'] as $c) {
    require "/usr/share/php/Illuminate/$c/autoload.php";
}

use Illuminate\Cache\RedisStore;
use Illuminate\Cache\Repository;
use Illuminate\Container\Container;
use Illuminate\Queue\RedisQueue;
use Illuminate\Redis\RedisManager;

function check($cond, $what) {
    if (!$cond) {
        fwrite(STDERR, "check failed: $what\n");
        exit(1);
    }
}

class FwJob {
    public static $ran = [];
    public function fire($job, $data) {
        self::$ran[] = $data['n'];
    }
}

$port = (int)$argv[1];
$app = new Container;
Container::setInstance($app);
$redis = new RedisManager($app, 'phpredis', [
    'default' => ['host' => '127.0.0.1', 'port' => $port, 'database' => 4, 'read_timeout' => 10],
]);
$raw = $redis->connection()->client();
$raw->flushDb();

// --- cache ---
$cache = new Repository(new RedisStore($redis, 'app', 'default'));
check($cache->put('user.1', ['name' => 'alice'], 60), 'put');
check($cache->get('user.1') === ['name' => 'alice'], 'get');
$ttl = $raw->ttl('app:user.1');
check($ttl > 0 && $ttl <= 60, "ttl $ttl");
check($cache->add('user.1', 'x', 60) === false && $cache->add('new', 'y', 60) === true, 'add (Lua)');
check($cache->increment('hits') === 1 && $cache->increment('hits', 4) === 5 && $cache->decrement('hits') === 4, 'increment');
$cache->putMany(['m1' => 1, 'm2' => 'two'], 60);
$many = $cache->many(['m1', 'm2', 'm3']);
check($many == ['m1' => 1, 'm2' => 'two', 'm3' => null], 'many ' . json_encode($many));
$calls = 0;
$f = function () use (&$calls) { $calls++; return 'computed'; };
check($cache->remember('r', 60, $f) === 'computed' && $cache->remember('r', 60, $f) === 'computed' && $calls === 1, 'remember');
check($cache->forever('f', 'v') && $raw->ttl('app:f') === -1, 'forever');
check($cache->forget('f') && !$cache->has('f'), 'forget');
$lock = $cache->lock('report', 10);
check($lock->get(), 'lock acquired');
check(!$cache->lock('report', 10)->get(), 'lock is exclusive');
check($lock->release(), 'lock released (Lua compare-and-delete)');
check($cache->lock('report', 10)->get(), 'lock free again');
$tagged = $cache->tags(['people', 'authors']);
$tagged->put('john', 'John', 60);
check($tagged->get('john') === 'John', 'tags');
$tagged->flush();
check($tagged->get('john') === null, 'tag flush');
check($cache->flush() && $raw->dbSize() === 0, 'flush');

// --- queue ---
$queue = new RedisQueue($redis, 'default', 'default', 60, 1);
$queue->setContainer($app);
for ($i = 1; $i <= 3; $i++) {
    $queue->push('FwJob', ['n' => $i]);
}
$queue->later(1, 'FwJob', ['n' => 'later']);
check($queue->size() === 4, 'size counts waiting and delayed: ' . $queue->size());
while ($job = $queue->pop()) {
    $job->fire();
    $job->delete();
}
check(FwJob::$ran === [1, 2, 3], 'jobs ran in order: ' . json_encode(FwJob::$ran));
// The delayed job is migrated when due; the blocking pop waits on :notify.
$start = microtime(true);
$job = null;
while (!$job && microtime(true) - $start < 10) {
    $job = $queue->pop();
}
check($job !== null, 'delayed job became available');
$job->fire();
// A released job goes back with a delay and counts as a second attempt.
$job->release(0);
$job = $queue->pop();
check($job !== null && $job->attempts() === 2, 'released job popped again');
$job->delete();
check($queue->size() === 0, 'queue empty');
check(FwJob::$ran === [1, 2, 3, 'later'], 'all ran: ' . json_encode(FwJob::$ran));
echo "laravel: all checks passed\n";
