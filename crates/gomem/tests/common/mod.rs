//! Scaffolding shared by the integration tests (not a test target itself).

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use gomem::{Heap, Mutator, Phase};

/// The stage of the lending hole (crate docs, "Another thread's stack"):
/// a thread waits in `collect()` for a cycle; another attaches a mutator,
/// waits for Mark, passes a safepoint (its stack is black) and then runs
/// `borrow` with it; meanwhile `lender` only allocates, never reaching a
/// safepoint, so its stack stays grey for the whole cycle and whatever it
/// lent `borrow` is reachable only from there. Returns the collecting
/// thread for the caller to join once the lender has passed its own
/// safepoint (from `blocking`: joining from a running P would hold the
/// cycle open).
pub fn borrow_on_a_black_mutator_while_the_lender_is_grey(
    heap: &Heap,
    lender: &Mutator,
    borrow: impl FnOnce(&Mutator) + Send,
) -> JoinHandle<()> {
    let hc = heap.clone();
    let collector = std::thread::spawn(move || hc.attach().collect());
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut mt = heap.attach();
            while heap.gc_phase() != Phase::Mark {
                mt.safepoint();
                std::thread::yield_now();
            }
            mt.safepoint(); // mt's stack is black now
            std::thread::sleep(Duration::from_millis(50));
            borrow(&mt);
            done.store(true, Ordering::Release);
        });
        while !done.load(Ordering::Acquire) {
            let _ = lender.alloc(0u64);
        }
    });
    collector
}
