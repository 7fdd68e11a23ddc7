//! ACME end to end against Debian's `pebble` (a real ACME server doing real
//! HTTP-01 and TLS-ALPN-01 validation over loopback): issuance with both
//! challenges, a restart that loads from storage, renewal past two thirds of
//! the lifetime (by moving the injected clock, not by sleeping), a failed
//! challenge retried until it succeeds, and the storage's file modes.
//!
//! The tests fail, not skip, when pebble is not installed: CI installs it.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use certs::{AcmeConfig, Backoff, CancellationToken, ChallengeKind, Challenges, Clock, Error};
use support::{wait_for, Http01Server, Pebble, Seen, TlsAlpnServer, NAME};

const ISSUE_TIMEOUT: Duration = Duration::from_secs(60);

fn config(pebble: &Pebble, storage: &Path, challenge: ChallengeKind) -> AcmeConfig {
    let mut c = AcmeConfig::new(vec![NAME.to_string()], storage);
    c.directory = pebble.directory.clone();
    c.ca_file = Some(pebble.ca_file.clone());
    c.contact = vec!["ops@example.com".into()];
    c.challenge = challenge;
    c.backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
    };
    c.order_timeout = Duration::from_secs(45);
    c
}

/// `certs::run` in a task, stopped through its cancellation token.
struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Running {
    fn start(config: AcmeConfig, challenges: Challenges, seen: &Seen) -> Running {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(certs::run(
            config,
            challenges,
            seen.callback(),
            shutdown.clone(),
        ));
        Running { shutdown, task }
    }

    fn ended(&self) -> bool {
        self.task.is_finished()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run ends within 10 s of shutdown")
            .expect("run task panicked");
        result.expect("run returns Ok on shutdown");
    }
}

/// Wait for the `n`th certificate; fail at once if `run` ended instead.
async fn wait_issued(run: &Running, seen: &Seen, n: usize, pebble: &Pebble) {
    let deadline = std::time::Instant::now() + ISSUE_TIMEOUT;
    while seen.len() < n {
        assert!(!run.ended(), "run ended before certificate {n}");
        assert!(
            std::time::Instant::now() < deadline,
            "no certificate {n} within {ISSUE_TIMEOUT:?}; pebble log:\n{}",
            pebble.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The one issuer directory under `storage`.
fn issuer_dir(storage: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(storage)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one issuer directory: {dirs:?}");
    dirs[0].clone()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issues_a_certificate_that_verifies_and_stores_keys_privately() {
    support::logs();
    let tmp = support::TempDir::new("acme-http01");
    let dir = tmp.path();
    let challenges = Challenges::new();
    let http = Http01Server::start(challenges.clone(), false).await;
    let pebble = Pebble::start(dir, http.port, testkit::closed_port().port());
    let storage = dir.join("storage");
    let cfg = config(&pebble, &storage, ChallengeKind::Http01);
    let stats = cfg.stats.clone();
    let seen = Seen::default();
    let run = Running::start(cfg, challenges.clone(), &seen);

    wait_issued(&run, &seen, 1, &pebble).await;
    let issued = seen.get(0);
    assert!(issued.covers(&[NAME.to_string()]), "{issued:?}");
    assert!(issued.not_after > SystemTime::now());
    issued.certified_key().expect("usable by rustls");

    // The chain verifies against pebble's issuing root, and not against
    // another root (the check can fail).
    let root = pebble.issuing_root();
    support::verify_chain(&issued.chain_pem, &root, NAME).expect("chain verifies");
    let other = certs::placeholder(&[NAME.to_string()]).unwrap();
    assert!(support::verify_chain(&issued.chain_pem, &other.chain_pem, NAME).is_err());
    assert!(support::verify_chain(&issued.chain_pem, &root, "other.bigstep.test").is_err());

    assert!(
        http.requests.load(Ordering::SeqCst) >= 1,
        "pebble asked the responder"
    );
    assert_eq!(
        (stats.orders(), stats.issued(), stats.failures()),
        (1, 1, 0)
    );

    // Storage: the key and the account (which holds the account key) are
    // 0600, directories 0700, the chain 0644; the stored files are the ones
    // handed out.
    let issuer = issuer_dir(&storage);
    let cert_dir = issuer.join(NAME);
    assert_eq!(mode(&issuer.join("account.json")), 0o600);
    assert_eq!(mode(&cert_dir.join("key.pem")), 0o600);
    assert_eq!(mode(&cert_dir.join("chain.pem")), 0o644);
    assert_eq!(mode(&issuer), 0o700);
    assert_eq!(mode(&cert_dir), 0o700);
    assert_eq!(
        std::fs::read_to_string(cert_dir.join("key.pem")).unwrap(),
        issued.key_pem
    );
    assert_eq!(
        std::fs::read_to_string(cert_dir.join("chain.pem")).unwrap(),
        issued.chain_pem
    );
    // No temporary files left behind.
    for entry in std::fs::read_dir(&cert_dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(!name.to_string_lossy().starts_with('.'), "{name:?}");
    }

    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_issues_a_certificate() {
    support::logs();
    let tmp = support::TempDir::new("acme-alpn");
    let dir = tmp.path();
    let challenges = Challenges::new();
    let tls = TlsAlpnServer::start(challenges.clone()).await;
    let pebble = Pebble::start(dir, testkit::closed_port().port(), tls.port);
    let cfg = config(&pebble, &dir.join("storage"), ChallengeKind::TlsAlpn01);
    let stats = cfg.stats.clone();
    let seen = Seen::default();
    let run = Running::start(cfg, challenges.clone(), &seen);

    wait_issued(&run, &seen, 1, &pebble).await;
    let issued = seen.get(0);
    support::verify_chain(&issued.chain_pem, &pebble.issuing_root(), NAME).expect("chain verifies");
    assert!(tls.acme_handshakes.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        (stats.orders(), stats.issued(), stats.failures()),
        (1, 1, 0)
    );
    // The challenge certificate is withdrawn once the order is done.
    assert!(challenges.tls_alpn01(NAME).is_none());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_the_stored_certificate_without_an_order() {
    support::logs();
    let tmp = support::TempDir::new("acme-restart");
    let dir = tmp.path();
    let challenges = Challenges::new();
    let http = Http01Server::start(challenges.clone(), false).await;
    let mut pebble = Pebble::start(dir, http.port, testkit::closed_port().port());
    let storage = dir.join("storage");
    let seen = Seen::default();
    let run = Running::start(
        config(&pebble, &storage, ChallengeKind::Http01),
        challenges.clone(),
        &seen,
    );
    wait_issued(&run, &seen, 1, &pebble).await;
    let first = seen.get(0);
    run.stop().await;

    // With the ACME server gone, any order would fail: the second run must
    // not need one.
    pebble.stop();
    let cfg = config(&pebble, &storage, ChallengeKind::Http01);
    let stats = cfg.stats.clone();
    let again = Seen::default();
    let run = Running::start(cfg, challenges, &again);
    wait_for("the stored certificate", Duration::from_secs(10), || {
        again.len() == 1
    })
    .await;
    assert_eq!(again.get(0), first, "the same certificate, from storage");
    // Asleep until the renewal point, having ordered nothing.
    wait_for(
        "the renewal to be scheduled",
        Duration::from_secs(10),
        || stats.renew_at_unix() != 0,
    )
    .await;
    let expected = certs::renew_at(first.not_before, first.not_after, 2.0 / 3.0);
    let expected = expected
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(stats.renew_at_unix(), expected);
    assert_eq!(
        (stats.orders(), stats.loaded(), stats.failures()),
        (0, 1, 0)
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_past_two_thirds_of_its_life_is_renewed() {
    support::logs();
    let tmp = support::TempDir::new("acme-renew");
    let dir = tmp.path();
    let challenges = Challenges::new();
    let http = Http01Server::start(challenges.clone(), false).await;
    let pebble = Pebble::start(dir, http.port, testkit::closed_port().port());
    let storage = dir.join("storage");
    let seen = Seen::default();
    let run = Running::start(
        config(&pebble, &storage, ChallengeKind::Http01),
        challenges.clone(),
        &seen,
    );
    wait_issued(&run, &seen, 1, &pebble).await;
    let old = seen.get(0);
    run.stop().await;

    // Restart with the clock 70% into the stored certificate's lifetime. The
    // callback puts the clock back once the new certificate arrives, so the
    // loop then schedules the next renewal normally.
    let lifetime = old.not_after.duration_since(old.not_before).unwrap();
    let offset = Arc::new(AtomicI64::new(lifetime.mul_f64(0.7).as_secs() as i64));
    let clock_offset = offset.clone();
    let mut cfg = config(&pebble, &storage, ChallengeKind::Http01);
    cfg.clock = Clock::from_fn(move || {
        SystemTime::now() + Duration::from_secs(clock_offset.load(Ordering::SeqCst) as u64)
    });
    let stats = cfg.stats.clone();
    let seen = Seen::default();
    let shutdown = CancellationToken::new();
    let (inner, old_chain) = (seen.clone(), old.chain_pem.clone());
    let task = tokio::spawn(certs::run(
        cfg,
        challenges,
        move |issued: certs::Issued| {
            if issued.chain_pem != old_chain {
                offset.store(0, Ordering::SeqCst);
            }
            inner.callback()(issued);
        },
        shutdown.clone(),
    ));
    let run = Running { shutdown, task };
    wait_issued(&run, &seen, 2, &pebble).await;
    assert_eq!(seen.get(0), old, "the stored certificate is served first");
    let new = seen.get(1);
    assert_ne!(new.chain_pem, old.chain_pem);
    assert_ne!(new.key_pem, old.key_pem, "a fresh key");
    support::verify_chain(&new.chain_pem, &pebble.issuing_root(), NAME).expect("verifies");
    let stored = issuer_dir(&storage).join(NAME).join("chain.pem");
    assert_eq!(std::fs::read_to_string(stored).unwrap(), new.chain_pem);
    // The next renewal is the new certificate's, in the future: no loop.
    let next = certs::renew_at(new.not_before, new.not_after, 2.0 / 3.0)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    wait_for(
        "the next renewal to be scheduled",
        Duration::from_secs(10),
        || stats.renew_at_unix() == next,
    )
    .await;
    assert_eq!((stats.loaded(), stats.orders(), stats.issued()), (1, 1, 1));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_challenge_is_retried_until_it_succeeds() {
    support::logs();
    let tmp = support::TempDir::new("acme-retry");
    let dir = tmp.path();
    let challenges = Challenges::new();
    // The first token pebble asks for gets a wrong answer.
    let http = Http01Server::start(challenges.clone(), true).await;
    let pebble = Pebble::start(dir, http.port, testkit::closed_port().port());
    let cfg = config(&pebble, &dir.join("storage"), ChallengeKind::Http01);
    let stats = cfg.stats.clone();
    let seen = Seen::default();
    let run = Running::start(cfg, challenges, &seen);

    wait_issued(&run, &seen, 1, &pebble).await;
    support::verify_chain(&seen.get(0).chain_pem, &pebble.issuing_root(), NAME).expect("verifies");
    assert!(stats.failures() >= 1, "the first order failed");
    assert_eq!(stats.orders(), stats.failures() + 1);
    assert_eq!(stats.issued(), 1);
    run.stop().await;
}

#[tokio::test]
async fn a_config_that_cannot_work_ends_run_with_the_reason() {
    let tmp = support::TempDir::new("acme-config");
    let dir = tmp.path();
    let seen = Seen::default();

    let no_names = AcmeConfig::new(vec![], dir.join("s"));
    let err = certs::run(
        no_names,
        Challenges::new(),
        seen.callback(),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");

    // Storage under a regular file cannot be created.
    std::fs::write(dir.join("file"), "x").unwrap();
    let bad_storage = AcmeConfig::new(vec![NAME.into()], dir.join("file").join("s"));
    let err = certs::run(
        bad_storage,
        Challenges::new(),
        seen.callback(),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err}");
    assert_eq!(seen.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_doors_sharing_a_store_order_once_and_answer_each_others_challenges() {
    support::logs();
    let tmp = support::TempDir::new("acme-shared");
    let dir = tmp.path();
    let redis = support::RedisServer::start();
    let (a_challenges, b_challenges) = (Challenges::new(), Challenges::new());
    // Pebble validates through B's responder only: A's answer reaches it
    // only through the shared store.
    let http = Http01Server::start(b_challenges.clone(), false).await;
    let mut pebble = Pebble::start(dir, http.port, testkit::closed_port().port());
    let shared = |pebble: &Pebble, storage: &str| {
        let mut c = config(pebble, &dir.join(storage), ChallengeKind::Http01);
        c.store = Some(redis.url());
        c.store_poll = Duration::from_millis(100);
        c
    };
    let (a_cfg, b_cfg) = (shared(&pebble, "a"), shared(&pebble, "b"));
    let (a_stats, b_stats) = (a_cfg.stats.clone(), b_cfg.stats.clone());
    let (a_seen, b_seen) = (Seen::default(), Seen::default());
    let a = Running::start(a_cfg, a_challenges, &a_seen);
    let lock_pattern = format!("bigstep:acme:*:lock:{NAME}");
    wait_for("A to take the lock", Duration::from_secs(10), || {
        !redis.keys(&lock_pattern).is_empty()
    })
    .await;
    let b = Running::start(b_cfg, b_challenges, &b_seen);

    wait_issued(&a, &a_seen, 1, &pebble).await;
    wait_issued(&b, &b_seen, 1, &pebble).await;
    let issued = a_seen.get(0);
    assert_eq!(b_seen.get(0), issued, "B serves what A obtained");
    support::verify_chain(&issued.chain_pem, &pebble.issuing_root(), NAME).expect("verifies");
    assert_eq!(a_stats.issued(), 1);
    // (A validation that raced B's copy would fail and be retried; the
    // certificate can still only come through B's responder.)
    assert_eq!(
        (b_stats.orders(), b_stats.loaded()),
        (0, 1),
        "B never ordered"
    );
    assert!(http.requests.load(Ordering::SeqCst) >= 1);
    wait_for("the lock to be released", Duration::from_secs(10), || {
        redis.keys(&lock_pattern).is_empty()
    })
    .await;
    assert!(redis.keys("bigstep:acme:*:challenge:*").is_empty());
    a.stop().await;
    b.stop().await;

    // A third front door with an empty storage directory loads from the
    // store, with the ACME server gone.
    pebble.stop();
    let c_cfg = shared(&pebble, "c");
    let c_stats = c_cfg.stats.clone();
    let c_seen = Seen::default();
    let c = Running::start(c_cfg, Challenges::new(), &c_seen);
    wait_for("C's certificate", Duration::from_secs(10), || {
        c_seen.len() == 1
    })
    .await;
    assert_eq!(c_seen.get(0), issued);
    assert_eq!((c_stats.orders(), c_stats.loaded()), (0, 1));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_certificate_that_does_not_fit_is_replaced() {
    support::logs();
    let tmp = support::TempDir::new("acme-refit");
    let dir = tmp.path();
    let challenges = Challenges::new();
    let http = Http01Server::start(challenges.clone(), false).await;
    let pebble = Pebble::start(dir, http.port, testkit::closed_port().port());
    let storage = dir.join("storage");
    let seen = Seen::default();
    let run = Running::start(
        config(&pebble, &storage, ChallengeKind::Http01),
        challenges.clone(),
        &seen,
    );
    wait_issued(&run, &seen, 1, &pebble).await;
    run.stop().await;

    // A second name added to the config: the stored certificate does not
    // name it, so it is not served and a new one is ordered for both.
    let both = vec![NAME.to_string(), "www.bigstep.test".to_string()];
    let mut cfg = config(&pebble, &storage, ChallengeKind::Http01);
    cfg.domains = both.clone();
    let stats = cfg.stats.clone();
    let again = Seen::default();
    let run = Running::start(cfg, challenges.clone(), &again);
    wait_issued(&run, &again, 1, &pebble).await;
    assert!(again.get(0).covers(&both), "{:?}", again.get(0));
    assert_eq!((stats.loaded(), stats.issued()), (0, 1));
    run.stop().await;

    // A stored key that no longer matches its chain (e.g. edited by hand):
    // refused, and a new certificate ordered.
    let key_file = issuer_dir(&storage).join(NAME).join("key.pem");
    let other = certs::placeholder(&both).unwrap();
    std::fs::write(&key_file, &other.key_pem).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cfg = config(&pebble, &storage, ChallengeKind::Http01);
    cfg.domains = both.clone();
    let stats = cfg.stats.clone();
    let third = Seen::default();
    let run = Running::start(cfg, challenges, &third);
    wait_issued(&run, &third, 1, &pebble).await;
    assert_ne!(third.get(0), again.get(0));
    assert_eq!((stats.loaded(), stats.issued()), (0, 1));
    assert_eq!(mode(&key_file), 0o600, "the rewritten key is private again");
    run.stop().await;
}
