//! Running one measurement as a child process and reading what the kernel
//! says it cost.
//!
//! Every measurement of `compare` is its own process, so that no run
//! inherits another's heap, page cache state in the allocator, or threads.
//! The parent measures wall time from just before `spawn` to the moment the
//! child has exited, and takes CPU time (user + system) and peak RSS
//! (`ru_maxrss`) from the child's own `rusage`, which `wait4` returns when
//! it reaps the child: these cover every thread of the child (Go's runtime
//! threads, gomem's mark workers) and nothing of the parent.
//!
//! The child's stdout and stderr are drained by two threads while it runs,
//! so a chatty child (gctrace writes a line per cycle) never blocks on a
//! full pipe. A watchdog kills a child that outlives its time limit; to
//! never signal a recycled pid it only kills while the child is known not
//! to have been reaped (the parent first waits with `WNOWAIT`, which leaves
//! the child a zombie, then marks it done under the same lock, then reaps).

use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
}

/// What one child did and cost.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub exit: Exit,
    /// Whether the watchdog killed it.
    pub timed_out: bool,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Wall time measured by the parent, spawn to exit.
    pub wall: Duration,
    /// User CPU time of the child (all its threads).
    pub user: Duration,
    /// System CPU time of the child.
    pub sys: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
}

/// Runs `cmd` to completion with stdin closed and stdout/stderr captured,
/// killing it after `timeout`, and returns its outcome and rusage.
pub fn run(cmd: &mut Command, timeout: Duration) -> io::Result<Outcome> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other("child pid out of range"))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());

    // `done` becomes true once the child is a zombie and stays so until we
    // reap it: the watchdog kills only while `done` is false.
    let done = Arc::new(Mutex::new(false));
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let watchdog = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(timeout) {
                let done = done.lock().unwrap_or_else(|e| e.into_inner());
                if !*done {
                    // SAFETY: kill(2) has no memory-safety preconditions; the
                    // pid is our unreaped child (reaping happens only after
                    // `done` is set under this lock), so it names that child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return true;
                }
            }
            false
        })
    };

    wait_exited_noreap(pid)?;
    *done.lock().unwrap_or_else(|e| e.into_inner()) = true;
    let wall = start.elapsed();
    let (status, usage) = reap(pid)?;
    let _ = stop_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    // `child` was reaped by wait4 above; dropping a `Child` does not wait.
    drop(child);

    let exit = if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    };
    Ok(Outcome {
        exit,
        timed_out,
        stdout: join(out),
        stderr: join(err),
        wall,
        user: timeval(usage.ru_utime),
        sys: timeval(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

fn join(h: thread::JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
}

/// Blocks until `pid` has terminated, leaving it unreaped (a zombie).
fn wait_exited_noreap(pid: libc::pid_t) -> io::Result<()> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C
        // struct; waitid only writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t for the duration of
        // the call; `pid` is our own child.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reaps `pid` and returns its wait status and rusage.
fn reap(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct
        // (integers and timevals); wait4 only writes into it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `status` and `usage` are valid, writable and live for the
        // duration of the call; `pid` is our own child, which has exited,
        // so the call returns at once and reaps exactly that child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let e = io::Error::last_os_error();
        if r != -1 || e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn timeval(t: libc::timeval) -> Duration {
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u32::try_from(t.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_status_and_usage() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let o = run(&mut cmd, Duration::from_secs(30)).unwrap();
        assert_eq!(o.exit, Exit::Code(3));
        assert!(!o.timed_out);
        assert_eq!(o.stdout, "out\n");
        assert_eq!(o.stderr, "err\n");
        assert!(o.max_rss_kib > 0);
        assert!(o.wall > Duration::ZERO);
    }

    #[test]
    fn counts_child_cpu_and_memory() {
        // A busy loop in the child shows up in its rusage (the parent spent
        // nothing: it waited).
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]);
        let o = run(&mut cmd, Duration::from_secs(60)).unwrap();
        assert_eq!(o.exit, Exit::Code(0));
        assert!(o.user + o.sys > Duration::ZERO, "{o:?}");
    }

    #[test]
    fn watchdog_kills_a_hung_child() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let o = run(&mut cmd, Duration::from_millis(200)).unwrap();
        assert!(o.timed_out);
        assert_eq!(o.exit, Exit::Signal(libc::SIGKILL));
    }
}
