<?php
// PHP's own session_start() with the phpredis save handler and session locking.
// Usage: php -d session.save_handler=redis -d session.save_path=tcp://127.0.0.1:PORT \
//            -d redis.session.locking_enabled=1 session.php SESSION_ID [RELEASE_FILE]
// Increments a counter in the session while holding the session lock until RELEASE_FILE
// exists (at most 30 s; no file: release at once), then prints the counter it wrote.
ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
session_id($argv[1]);
if (!session_start()) {
    fwrite(STDERR, "session_start failed\n");
    exit(1);
}
$_SESSION['count'] = ($_SESSION['count'] ?? 0) + 1;
$_SESSION['pids'][] = getmypid();
$release = $argv[2] ?? '';
$deadline = microtime(true) + 30;
while ($release !== '' && !file_exists($release) && microtime(true) < $deadline) {
    usleep(10000);
}
$count = $_SESSION['count'];
session_write_close();
echo $count, "\n";
