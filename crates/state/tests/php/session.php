<?php
// PHP's own session_start() with the phpredis save handler and session locking.
// Usage: php -d session.save_handler=redis -d session.save_path=tcp://127.0.0.1:PORT \
//            -d redis.session.locking_enabled=1 session.php SESSION_ID HOLD_SECONDS
// Increments a counter in the session while holding the session lock for HOLD_SECONDS,
// then prints the counter it wrote.
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
usleep((int)((float)$argv[2] * 1000000));
$count = $_SESSION['count'];
session_write_close();
echo $count, "\n";
