//! A script running past `busy-reply-threshold`, as the other connections
//! see it without the store lock.
//!
//! A script runs holding the store lock, so it is atomic. Once it has run
//! longer than the threshold, Redis answers everyone else `-BUSY` and lets
//! `SCRIPT KILL` / `FUNCTION KILL` / `SHUTDOWN NOSAVE` through. Here the
//! script's thread marks itself busy in this [`ScriptWatch`] (from the Lua
//! instruction-count hook, so a command pays nothing for it) and the other
//! connections, finding the lock taken, read the mark instead of waiting on
//! the lock. A kill request is a flag the hook reads.
//!
//! A leaf: `lua` owns it beside the interpreters, `shared` hands it to the
//! connections, and neither imports the other for it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

/// Redis's reply to most commands while an EVAL script is busy.
pub(crate) const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The same while a function is busy.
pub(crate) const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// SCRIPT KILL / FUNCTION KILL with nothing running.
pub(crate) const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
/// The kill request a script that already wrote refuses.
pub(crate) const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

/// What is running: an EVAL script or a function (the BUSY text and the
/// right KILL command differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// EVAL / EVALSHA.
    Eval = 1,
    /// FCALL / FCALL_RO.
    Function = 2,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Eval),
            2 => Some(Kind::Function),
            _ => None,
        }
    }

    /// The `-BUSY` error text for this kind.
    pub(crate) fn busy_error(self) -> &'static str {
        match self {
            Kind::Eval => BUSY_EVAL,
            Kind::Function => BUSY_FUNCTION,
        }
    }
}

/// The current run, as one atomic so a kill and a first write cannot both
/// win: the script moves `CLEAN` → `DIRTY` before its first write, a kill
/// moves `CLEAN` → `KILLED`.
const CLEAN: u8 = 0;
const DIRTY: u8 = 1;
const KILLED: u8 = 2;

/// What a connection that arrives while a script is busy needs to know,
/// copied when the script starts (it cannot read the store then).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Admission {
    /// The default user needs no password (a new client starts logged in).
    pub(crate) auto_login: bool,
    /// Protected mode refuses clients that are not on loopback.
    pub(crate) loopback_only: bool,
    /// SHUTDOWN is allowed (not inside `bigstep up`).
    pub(crate) shutdown_allowed: bool,
}

/// A request to stop the busy script.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KillReply {
    /// Killed (the script's caller gets the error).
    Ok,
    /// No script is busy.
    NotBusy,
    /// The script already wrote.
    Unkillable,
    /// The other kind is running: SCRIPT KILL on a function or FUNCTION
    /// KILL on a script; the reply is that kind's BUSY text.
    WrongKind(Kind),
}

/// How a run ended, for its own thread.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Ran to its end (or was killed by SCRIPT/FUNCTION KILL, which the
    /// caller sees as an error).
    Normally,
    /// Stopped by SHUTDOWN NOSAVE: its writes must not reach the log and the
    /// server stops.
    Shutdown,
}

/// See the module documentation.
pub(crate) struct ScriptWatch {
    /// The busy run's [`Kind`], 0 when none is past the threshold.
    busy: AtomicU8,
    /// `CLEAN` / `DIRTY` / `KILLED` for the current run.
    run: AtomicU8,
    /// The kill came from SHUTDOWN NOSAVE.
    shutdown: AtomicBool,
    /// Orders kill requests against the end of a busy run, so a late kill
    /// never lands on the next script.
    gate: Mutex<()>,
    /// True while busy: connections waiting for the store wait on this.
    idle: watch::Sender<bool>,
    /// Copied at the start of each run, read by connections arriving while busy.
    admission: Mutex<Admission>,
    /// Commands refused with BUSY, counted in INFO once the script ends
    /// (the statistics live in the store).
    refused: Mutex<Vec<&'static str>>,
}

impl Default for ScriptWatch {
    fn default() -> Self {
        ScriptWatch {
            busy: AtomicU8::new(0),
            run: AtomicU8::new(CLEAN),
            shutdown: AtomicBool::new(false),
            gate: Mutex::new(()),
            idle: watch::Sender::new(false),
            admission: Mutex::new(Admission::default()),
            refused: Mutex::new(Vec::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ScriptWatch {
    // === the script's own thread ===

    /// A script starts (store lock held, nothing busy).
    pub(crate) fn start_run(&self, admission: Admission) {
        self.run.store(CLEAN, Ordering::SeqCst);
        *lock(&self.admission) = admission;
    }

    /// The run passed the threshold: from now on other clients get BUSY.
    pub(crate) fn went_busy(&self, kind: Kind) {
        let _g = lock(&self.gate);
        self.busy.store(kind as u8, Ordering::SeqCst);
        self.idle.send_replace(true);
    }

    /// Whether the run passed the threshold.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) != 0
    }

    /// Before a write: false if the run was killed (the write must not
    /// happen). After this the run is unkillable.
    pub(crate) fn may_write(&self) -> bool {
        match self.run.load(Ordering::SeqCst) {
            DIRTY => true,
            _ => match self
                .run
                .compare_exchange(CLEAN, DIRTY, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) | Err(DIRTY) => true,
                Err(_) => false,
            },
        }
    }

    /// Whether a kill was accepted for this run.
    pub(crate) fn killed(&self) -> bool {
        self.run.load(Ordering::SeqCst) == KILLED
    }

    /// The run ended (store lock still held): clients waiting are released.
    pub(crate) fn end_run(&self) -> Ended {
        let _g = lock(&self.gate);
        self.run.store(CLEAN, Ordering::SeqCst);
        if self.busy.swap(0, Ordering::SeqCst) != 0 {
            self.idle.send_replace(false);
        }
        if self.shutdown.swap(false, Ordering::SeqCst) {
            Ended::Shutdown
        } else {
            Ended::Normally
        }
    }

    /// Takes the names of the commands refused with BUSY, to count them.
    pub(crate) fn take_refused(&self) -> Vec<&'static str> {
        std::mem::take(&mut *lock(&self.refused))
    }

    // === other connections ===

    /// The busy run's kind, if one is past the threshold.
    pub(crate) fn busy(&self) -> Option<Kind> {
        Kind::from_u8(self.busy.load(Ordering::SeqCst))
    }

    /// What a connection arriving now needs (valid while busy).
    pub(crate) fn admission(&self) -> Admission {
        *lock(&self.admission)
    }

    /// Counts a command refused with BUSY.
    pub(crate) fn refused(&self, name: &'static str) {
        lock(&self.refused).push(name);
    }

    /// SCRIPT KILL (`Kind::Eval`) or FUNCTION KILL (`Kind::Function`).
    pub(crate) fn kill(&self, by: Kind) -> KillReply {
        let _g = lock(&self.gate);
        let Some(running) = self.busy() else {
            return KillReply::NotBusy;
        };
        if running != by {
            return KillReply::WrongKind(running);
        }
        match self
            .run
            .compare_exchange(CLEAN, KILLED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) | Err(KILLED) => KillReply::Ok,
            Err(_) => KillReply::Unkillable,
        }
    }

    /// SHUTDOWN NOSAVE while busy: stops the run whatever it wrote (its
    /// writes are then dropped, and the server stops). False if nothing is
    /// busy any more (the SHUTDOWN then runs as usual).
    pub(crate) fn kill_for_shutdown(&self) -> bool {
        let _g = lock(&self.gate);
        if self.busy().is_none() {
            return false;
        }
        self.shutdown.store(true, Ordering::SeqCst);
        self.run.store(KILLED, Ordering::SeqCst);
        true
    }

    /// Resolves once no script is busy.
    pub(crate) async fn idle(&self) {
        let mut rx = self.idle.subscribe();
        let _ = rx.wait_for(|busy| !*busy).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_needs_a_busy_run_of_the_same_kind() {
        let w = ScriptWatch::default();
        w.start_run(Admission::default());
        assert_eq!(w.kill(Kind::Eval), KillReply::NotBusy);
        w.went_busy(Kind::Eval);
        assert_eq!(w.kill(Kind::Function), KillReply::WrongKind(Kind::Eval));
        assert_eq!(w.kill(Kind::Eval), KillReply::Ok);
        assert!(w.killed());
        assert!(!w.may_write(), "a killed run must not write");
        assert_eq!(w.end_run(), Ended::Normally);
        assert!(w.busy().is_none());
        // The kill does not outlive its run.
        w.start_run(Admission::default());
        assert!(!w.killed());
    }

    #[test]
    fn a_run_that_wrote_is_unkillable_but_shutdown_stops_it() {
        let w = ScriptWatch::default();
        w.start_run(Admission::default());
        assert!(w.may_write());
        w.went_busy(Kind::Function);
        assert_eq!(w.kill(Kind::Function), KillReply::Unkillable);
        assert!(!w.killed());
        assert!(w.kill_for_shutdown());
        assert!(w.killed());
        assert_eq!(w.end_run(), Ended::Shutdown);
        assert!(!w.kill_for_shutdown(), "nothing busy any more");
    }
}
