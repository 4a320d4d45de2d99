//! The ends of instances, as two parties learn of them: a convergence that finds an instance
//! ended and forgets it, and the launcher that reports how the process ended. Either may come
//! first; whichever comes second says the end with how the process ended, so every end is said
//! once with its exit status, in whichever order the two came.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::reconcile::lock;

/// Most ends kept waiting for the other party (an instance adopted after a restart has no
/// report: its pid leaves when newer ones push it out).
const KEPT: usize = 64;

/// Ends one party learned of and the other has not yet.
#[derive(Debug, Default)]
pub struct Ends(Mutex<Waiting>);

#[derive(Debug, Default)]
struct Waiting {
    /// Pids a convergence forgot, whose exit was not reported yet.
    forgotten: VecDeque<u32>,
    /// Exits reported (pid, how it ended) of instances not recorded then.
    reported: VecDeque<(u32, String)>,
    /// Pids the reconciler is stopping: their exit is no end to say.
    stopping: VecDeque<u32>,
}

fn keep<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == KEPT {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl Ends {
    /// A convergence forgot ended instance `pid`: how it ended when that was reported already
    /// (the convergence says it), else `None` (the report, when it comes, says it).
    pub fn forgot(&self, pid: u32) -> Option<String> {
        let mut waiting = lock(&self.0);
        match waiting.reported.iter().position(|(p, _)| *p == pid) {
            Some(at) => waiting.reported.remove(at).map(|(_, how)| how),
            None => {
                keep(&mut waiting.forgotten, pid);
                None
            }
        }
    }

    /// The reconciler forgot live instance `pid` to stop it: its exit is not an end.
    pub fn stopping(&self, pid: u32) {
        keep(&mut lock(&self.0).stopping, pid);
    }

    /// The exit of `pid`, an instance not recorded now, was reported as `how`: true when a
    /// convergence forgot it (the report is to be said now); else it waits for that convergence,
    /// unless the reconciler stopped it.
    pub fn reported(&self, pid: u32, how: &str) -> bool {
        let mut waiting = lock(&self.0);
        if let Some(at) = waiting.stopping.iter().position(|p| *p == pid) {
            waiting.stopping.remove(at);
            return false;
        }
        match waiting.forgotten.iter().position(|p| *p == pid) {
            Some(at) => waiting.forgotten.remove(at).is_some(),
            None => {
                keep(&mut waiting.reported, (pid, how.to_string()));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_is_said_once_by_whichever_party_comes_second() {
        let ends = Ends::default();
        // Forgotten first: the report says it.
        assert_eq!(ends.forgot(10), None);
        assert!(ends.reported(10, "exit status: 3"));
        assert!(!ends.reported(10, "exit status: 3"), "said once");
        // Reported first: the convergence says it.
        assert!(!ends.reported(11, "exit status: 1"));
        assert_eq!(ends.forgot(11).as_deref(), Some("exit status: 1"));
        assert_eq!(ends.forgot(11), None, "said once");
        // A stopped instance's exit is no end, and waits for nothing.
        ends.stopping(12);
        assert!(!ends.reported(12, "signal: 15 (SIGTERM)"));
        assert_eq!(ends.forgot(12), None, "its report was not kept");
        // Bounded: the oldest waiting end leaves.
        for pid in 100..100 + KEPT as u32 + 1 {
            assert_eq!(ends.forgot(pid), None);
        }
        assert!(!ends.reported(100, "exit status: 0"), "pushed out");
        assert!(ends.reported(101, "exit status: 0"));
    }
}
