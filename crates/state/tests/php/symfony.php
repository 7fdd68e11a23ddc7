<?php
// Symfony 5.4 components (Debian php-symfony-*) against a Redis server through
// phpredis: the cache (RedisAdapter with get()/stampede protection, items with
// expiry, clear of the namespace; RedisTagAwareAdapter with tag invalidation)
// and RedisSessionHandler under PHP's own session_start().
// Usage: php symfony.php PORT   (exit 0 = all good)
require '/usr/share/php/Symfony/Component/Cache/autoload.php';
require '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';

use Symfony\Component\Cache\Adapter\RedisAdapter;
use Symfony\Component\Cache\Adapter\RedisTagAwareAdapter;
use Symfony\Component\HttpFoundation\Session\Storage\Handler\RedisSessionHandler;
use Symfony\Contracts\Cache\ItemInterface;

function check($cond, $what) {
    if (!$cond) {
        fwrite(STDERR, "check failed: $what\n");
        exit(1);
    }
}

$port = (int)$argv[1];
$redis = new Redis();
$redis->connect('127.0.0.1', $port, 5);
$redis->select(5);
$redis->flushDb();

// --- cache ---
$cache = new RedisAdapter($redis, 'app', 0);
$calls = 0;
$compute = function (ItemInterface $item) use (&$calls) {
    $calls++;
    $item->expiresAfter(60);
    return ['answer' => 42];
};
check($cache->get('report', $compute) === ['answer' => 42], 'get computes');
check($cache->get('report', $compute) === ['answer' => 42] && $calls === 1, 'get caches');
$ttl = $redis->ttl('app:report');
check($ttl > 0 && $ttl <= 60, "expiresAfter sets a TTL ($ttl)");
$item = $cache->getItem('counter');
check(!$item->isHit(), 'miss');
$item->set(7);
check($cache->save($item), 'save');
check($cache->getItem('counter')->get() === 7, 'hit');
$items = iterator_to_array($cache->getItems(['counter', 'report', 'nope']));
check($items['counter']->get() === 7 && !$items['nope']->isHit(), 'getItems');
check($cache->deleteItem('counter') && !$cache->hasItem('counter'), 'deleteItem');
$redis->set('other', 'kept');
check($cache->clear(), 'clear');
check(!$cache->hasItem('report') && $redis->get('other') === 'kept', 'clear only the namespace');

$tags = new RedisTagAwareAdapter($redis, 'tagged', 0);
$tags->get('post.1', function (ItemInterface $item) { $item->tag(['posts', 'user.1']); return 'one'; });
$tags->get('post.2', function (ItemInterface $item) { $item->tag(['posts']); return 'two'; });
$tags->get('user.1', function (ItemInterface $item) { $item->tag(['user.1']); return 'alice'; });
check($tags->getItem('post.1')->isHit() && $tags->getItem('post.2')->isHit(), 'tagged items stored');
check($tags->invalidateTags(['posts']), 'invalidateTags');
check(!$tags->getItem('post.1')->isHit() && !$tags->getItem('post.2')->isHit(), 'tag invalidated');
check($tags->getItem('user.1')->isHit(), 'other tag kept');

// --- sessions ---
ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
session_set_save_handler(new RedisSessionHandler($redis, ['prefix' => 'sf_s:', 'ttl' => 300]), true);
session_id('sfsession1');
check(session_start(), 'session_start');
$_SESSION['user'] = 'bob';
session_write_close();
$ttl = $redis->ttl('sf_s:sfsession1');
check($ttl > 0 && $ttl <= 300, "session ttl $ttl");
$_SESSION = [];
session_id('sfsession1');
session_start();
check(($_SESSION['user'] ?? null) === 'bob', 'session read back');
session_destroy();
check($redis->exists('sf_s:sfsession1') === 0, 'session destroyed');
echo "symfony: all checks passed\n";
