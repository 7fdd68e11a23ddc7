//! INFO: the sections and field names Redis 7.0 prints, in its order.
//!
//! Values are true where this server has them (clients, keyspace, counters,
//! memory from `/proc`, CPU from `getrusage`, the log, scripts and
//! functions); fields for machinery it does not have (replication, RDB
//! forks, defrag, I/O threads) print what Redis prints when that machinery
//! is idle. Per-command statistics and latency percentiles are kept by
//! [`crate::cmdstats`]. Not kept: network byte counters (0).

use std::fmt::Write as _;
use std::sync::OnceLock;

use bytes::Bytes;

use super::ctx::{Ctx, R};
use crate::config::REDIS_VERSION;
use crate::lua::Scripting;
use crate::resp::Reply;
use crate::store::{now_ms, Store};

/// Sections in Redis's order, and whether a bare INFO (or `default`) shows
/// them.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// INFO [section ...]
pub(super) fn info(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let want: Vec<String> = a[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let all = want.iter().any(|w| w == "all" || w == "everything");
    let default = want.is_empty() || want.iter().any(|w| w == "default");
    let s = &mut *ctx.s;
    s.stats.peak_memory = s.stats.peak_memory.max(s.used_memory);
    let mut out = String::new();
    for &(name, in_default) in SECTIONS {
        if !(all || (default && in_default) || want.iter().any(|w| w == name)) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section(s, ctx.sc, name, &mut out);
    }
    Ok(Reply::Verbatim("txt", Bytes::from(out)))
}

/// Redis's `bytesToHuman`.
fn human(n: u64) -> String {
    const UNITS: [(f64, &str); 5] = [
        (1024.0, "K"),
        (1048576.0, "M"),
        (1073741824.0, "G"),
        (1099511627776.0, "T"),
        (1125899906842624.0, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    let d = n as f64;
    for (i, (unit, name)) in UNITS.iter().enumerate() {
        if i == UNITS.len() - 1 || d < unit * 1024.0 {
            return format!("{:.2}{name}", d / unit);
        }
    }
    unreachable!("the last unit always formats")
}

/// 40 random hex digits, fixed for the process (run_id, master_replid).
fn random_id(cell: &'static OnceLock<String>) -> &'static str {
    cell.get_or_init(|| {
        use rand::Rng;
        let mut r = rand::rng();
        (0..40)
            .map(|_| char::from_digit(r.random_range(0..16), 16).unwrap_or('0'))
            .collect()
    })
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal` from /proc/meminfo, in bytes.
fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// User and system CPU seconds of `who`, as Redis prints them.
fn rusage(who: nix::sys::resource::UsageWho) -> (String, String) {
    let fmt = |t: nix::sys::time::TimeVal| format!("{}.{:06}", t.tv_sec(), t.tv_usec());
    match nix::sys::resource::getrusage(who) {
        Ok(u) => (fmt(u.system_time()), fmt(u.user_time())),
        Err(_) => ("0.000000".into(), "0.000000".into()),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn section(s: &Store, sc: &Scripting, name: &str, out: &mut String) {
    static RUN_ID: OnceLock<String> = OnceLock::new();
    static REPL_ID: OnceLock<String> = OnceLock::new();
    let uptime = s.started.elapsed().as_secs();
    // `write!` to a String cannot fail.
    let w = &mut *out;
    match name {
        "server" => {
            let os = format!(
                "{} {} {}",
                read_trim("/proc/sys/kernel/ostype"),
                read_trim("/proc/sys/kernel/osrelease"),
                std::env::consts::ARCH
            );
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let _ = write!(
                w,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{os}\r\narch_bits:{}\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nlru_clock:{}\r\nexecutable:{exe}\r\nconfig_file:\r\nio_threads_active:0\r\nbigstep_version:{}\r\n",
                usize::BITS,
                std::process::id(),
                random_id(&RUN_ID),
                s.cfg.port,
                now_ms() * 1000,
                uptime / 86400,
                (now_ms() / 1000) & ((1 << 24) - 1),
                env!("CARGO_PKG_VERSION"),
            );
        }
        "clients" => {
            let pubsub = s
                .clients
                .values()
                .filter(|e| !e.channels.is_empty() || !e.patterns.is_empty())
                .count();
            let _ = write!(
                w,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:0\r\npubsub_clients:{pubsub}\r\nwatching_clients:{}\r\n",
                s.clients.len(),
                s.cfg.maxclients,
                // Commands CLIENT PAUSE holds count as blocked, as in Redis.
                s.blocked.len() + s.pause.as_ref().map_or(0, |p| p.queue.len()),
                s.tracking.on,
                s.watched.len(),
            );
        }
        "memory" => {
            let used = s.used_memory as u64;
            let rss = crate::evict::rss_bytes();
            let peak = s.stats.peak_memory as u64;
            let total = total_system_memory();
            let lua_eval = sc.lua.as_ref().map_or(0, |e| e.lua.used_memory()) as u64;
            let lua_fn = sc
                .functions
                .engine
                .as_ref()
                .map_or(0, |e| e.eng.lua.used_memory()) as u64;
            let scripts_eval: u64 = sc.scripts.values().map(|b| b.len() as u64).sum();
            let functions: u64 = sc.functions.libs.iter().map(|l| l.code.len() as u64).sum();
            let aof_buf = s.aof.as_ref().map_or(0, |a| a.buf.len());
            let maxmem = s.cfg.maxmemory;
            let allocator = crate::allocator_name();
            let _ = write!(
                w,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:0\r\nused_memory_startup:0\r\nused_memory_dataset:{used}\r\nused_memory_dataset_perc:100.00%\r\nallocator_allocated:{used}\r\nallocator_active:{used}\r\nallocator_resident:{rss}\r\ntotal_system_memory:{total}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:{lua_eval}\r\nused_memory_vm_eval:{lua_eval}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{scripts_eval}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nused_memory_vm_functions:{lua_fn}\r\nused_memory_vm_total:{}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{functions}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\nmaxmemory:{maxmem}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:1.00\r\nallocator_frag_bytes:0\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:1.00\r\nrss_overhead_bytes:0\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{aof_buf}\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:0\r\nmem_cluster_links:0\r\nmem_aof_buffer:{aof_buf}\r\nmem_allocator:{allocator}\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
                human(used),
                human(rss),
                human(peak),
                ratio(used, peak) * 100.0,
                human(total),
                human(lua_eval),
                sc.scripts.len(),
                sc.functions.libs.function_count(),
                sc.functions.libs.len(),
                lua_eval + lua_fn,
                human(lua_eval + lua_fn),
                scripts_eval + functions,
                human(scripts_eval + functions),
                human(maxmem),
                s.cfg.maxmemory_policy.name(),
                ratio(rss, used),
                rss as i64 - used as i64,
                ratio(rss, used),
                rss as i64 - used as i64,
            );
        }
        "persistence" => {
            let aof = s.aof.is_some();
            let _ = write!(
                w,
                "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\nrdb_saves:0\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\naof_enabled:{}\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:ok\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                s.loading as u8,
                s.dirty
                    .saturating_sub(s.save.dirty_at_save.load(std::sync::atomic::Ordering::SeqCst)),
                s.save.in_progress.load(std::sync::atomic::Ordering::SeqCst) as u8,
                s.save.last_save.load(std::sync::atomic::Ordering::SeqCst),
                aof as u8,
                s.rewrite_requested as u8,
            );
            if aof {
                let _ = write!(
                    w,
                    "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
                    s.aof_current_size,
                    s.aof_base_size,
                    s.aof.as_ref().map_or(0, |a| a.buf.len()),
                );
            }
        }
        "stats" => {
            let errors: u64 = s.stats.errors.values().sum();
            let _ = write!(
                w,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:0\r\ntotal_net_output_bytes:0\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\nevicted_keys:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:{}\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{errors}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                s.stats.connections,
                s.stats.commands,
                s.stats.rejected,
                s.stats.expired,
                s.stats.evicted,
                s.stats.hits,
                s.stats.misses,
                s.channels.len(),
                s.patterns.len(),
                s.migrate_sockets.len(),
                s.tracking.total_keys(),
                s.tracking.total_keys(),
                s.tracking.total_prefixes(),
            );
        }
        "replication" => {
            let _ = write!(
                w,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                random_id(&REPL_ID),
            );
        }
        "cpu" => {
            use nix::sys::resource::UsageWho;
            let (sys, user) = rusage(UsageWho::RUSAGE_SELF);
            let (csys, cuser) = rusage(UsageWho::RUSAGE_CHILDREN);
            // The thread running this command: with `--threads 1` (the
            // default) the one thread every command runs on.
            let (tsys, tuser) = rusage(UsageWho::RUSAGE_THREAD);
            let _ = write!(
                w,
                "# CPU\r\nused_cpu_sys:{sys}\r\nused_cpu_user:{user}\r\nused_cpu_sys_children:{csys}\r\nused_cpu_user_children:{cuser}\r\nused_cpu_sys_main_thread:{tsys}\r\nused_cpu_user_main_thread:{tuser}\r\n",
            );
        }
        "modules" => w.push_str("# Modules\r\n"),
        "commandstats" => {
            w.push_str("# Commandstats\r\n");
            s.stats.cmd.write_commandstats(w);
        }
        "errorstats" => {
            w.push_str("# Errorstats\r\n");
            let mut codes: Vec<_> = s.stats.errors.iter().collect();
            codes.sort();
            for (code, n) in codes {
                let _ = write!(w, "errorstat_{code}:count={n}\r\n");
            }
        }
        "latencystats" => {
            w.push_str("# Latencystats\r\n");
            let param =
                |k: &str, default: &'static str| s.params.get(k).map_or(default, |v| v.as_str());
            if param("latency-tracking", "yes") == "yes" {
                let ps = crate::cmdstats::parse_percentiles(param(
                    "latency-tracking-info-percentiles",
                    "50 99 99.9",
                ));
                s.stats.cmd.write_latencystats(&ps, w);
            }
        }
        "cluster" => w.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            w.push_str("# Keyspace\r\n");
            let now = now_ms();
            for (i, d) in s.dbs.iter().enumerate() {
                if d.keys.is_empty() {
                    continue;
                }
                // Redis's avg_ttl is an estimate from sampled keys too.
                let sample: Vec<u64> = d
                    .expires
                    .values()
                    .take(64)
                    .map(|&at| at.saturating_sub(now))
                    .collect();
                let avg = if sample.is_empty() {
                    0
                } else {
                    sample.iter().sum::<u64>() / sample.len() as u64
                };
                let _ = write!(
                    w,
                    "db{i}:keys={},expires={},avg_ttl={avg}\r\n",
                    d.keys.len(),
                    d.expires.len()
                );
            }
        }
        _ => {}
    }
}

/// Counts an error reply by its code (the first word), for `errorstats`.
pub(crate) fn count_error(s: &mut Store, msg: &str) {
    let code = msg.split(' ').next().unwrap_or("ERR");
    // Like Redis, at most 128 distinct codes, so error text a client
    // controls cannot grow the table without bound.
    if let Some(n) = s.stats.errors.get_mut(code) {
        *n += 1;
    } else if s.stats.errors.len() < 128 {
        s.stats.errors.insert(code.to_string(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_sizes_as_redis() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1024), "1.00K");
        assert_eq!(human(1411728), "1.35M");
        assert_eq!(human(25276071936), "23.54G");
    }
}
