//! Deterministic tests of each half of the collector's protocol (issue 11,
//! H7): the insertion half of the barrier, stores between different objects
//! during Mark, and weak upgrades during Mark and during sweeping.
//!
//! A cycle cannot leave Arm until every attached P has adopted it, nor end
//! Mark until every P's stack is black. A *staller* — a thread attached to
//! the heap that waits for orders without polling — therefore holds the
//! collector in the phase the test wants while the main thread acts. Each
//! test runs with checkmark and clobber-on-free, so a missed mark aborts
//! with the object's path, and a freed object reads as 0xef bytes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gomem::{Config, Heap, Member, Phase, Trace};

fn debug() -> Config {
    Config::default()
        .checkmark(true)
        .clobber_free(true)
        .gc_percent(None)
}

#[derive(Trace)]
struct Holder {
    f: Member<Leaf>,
}

#[derive(Trace)]
struct Leaf {
    canary: u64,
    _pad: [u64; 3],
}

fn leaf(canary: u64) -> Leaf {
    Leaf {
        canary,
        _pad: [canary; 3],
    }
}

/// Orders for the staller thread.
const HOLD: u32 = 0;
const POLL: u32 = 1;
const SAFEPOINT: u32 = 2;
const LEAVE: u32 = 3;

/// A thread attached to `heap` that touches the heap only when told to:
/// `POLL` (an allocation, which adopts the current phase), `SAFEPOINT`, or
/// `LEAVE` (detach). After each order it goes back to `HOLD`.
struct Staller {
    order: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Staller {
    fn new(heap: &Heap) -> Staller {
        let order = Arc::new(AtomicU32::new(HOLD));
        let (o, h) = (order.clone(), heap.clone());
        let attached = Arc::new(AtomicU32::new(0));
        let a = attached.clone();
        let thread = std::thread::spawn(move || {
            let mut m = h.attach();
            a.store(1, Ordering::Release);
            loop {
                match o.load(Ordering::Acquire) {
                    POLL => {
                        let _ = m.alloc(0u64);
                    }
                    SAFEPOINT => m.safepoint(),
                    LEAVE => return,
                    _ => {
                        std::thread::yield_now();
                        continue;
                    }
                }
                o.store(HOLD, Ordering::Release);
            }
        });
        while attached.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        Staller {
            order,
            thread: Some(thread),
        }
    }

    fn order(&self, what: u32) {
        self.order.store(what, Ordering::Release);
        while self.order.load(Ordering::Acquire) == what {
            std::thread::yield_now();
        }
    }
}

impl Drop for Staller {
    fn drop(&mut self) {
        self.order.store(LEAVE, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn wait_for(heap: &Heap, phase: Phase) {
    let start = Instant::now();
    while heap.gc_phase() != phase {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the collector never reached {phase:?}"
        );
        std::thread::yield_now();
    }
}

/// Waits for `phase` while `m` passes safepoints (so it adopts phases),
/// then passes one more in that phase (in Mark, `m`'s stack is black after
/// it).
fn wait_polling(heap: &Heap, m: &mut gomem::Mutator, phase: Phase) {
    let start = Instant::now();
    while heap.gc_phase() != phase {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the collector never reached {phase:?}"
        );
        m.safepoint();
        std::thread::yield_now();
    }
    m.safepoint();
}

#[test]
fn a_fresh_object_stored_before_the_first_safepoint_of_mark_survives() {
    // The insertion half: a grey stack's white object stored into an object
    // the collector has already scanned.
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let staller = Staller::new(&heap);
    let b = m.root(m.alloc(Holder { f: Member::null() }));
    heap.request_cycle();
    wait_for(&heap, Phase::Arm); // the staller holds Arm open
    {
        let x = m.alloc(leaf(42)); // m adopts Arm: x is white
        staller.order(POLL); // now every P is armed
        wait_for(&heap, Phase::Mark);
        std::thread::sleep(Duration::from_millis(30)); // b is scanned
        b.get(&m).f.set(&m, Some(x)); // m's stack is still grey
    }
    m.safepoint();
    staller.order(SAFEPOINT);
    drop(staller); // detached: the flip needs no poll from it
    m.collect();
    m.collect();
    assert_eq!(b.get(&m).f.get(&m).expect("stored").canary, 42);
}

#[test]
fn pointers_moved_between_different_objects_during_mark_survive() {
    const N: usize = 20_000;
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let from = m.root(m.alloc_slice(N, |_| Holder { f: Member::null() }));
    let to = m.root(m.alloc_slice(N, |_| Holder { f: Member::null() }));
    {
        let f = from.get(&m);
        for (i, h) in f.iter().enumerate() {
            h.f.set(&m, Some(m.alloc(leaf(i as u64))));
        }
    }
    for round in 0..6 {
        let staller = Staller::new(&heap);
        heap.request_cycle();
        wait_polling(&heap, &mut m, Phase::Arm);
        m.safepoint(); // adopt Arm (the stack stays grey until Mark)
        staller.order(POLL);
        wait_for(&heap, Phase::Mark);
        if round % 2 == 1 {
            m.safepoint(); // half the rounds with a black stack
        }
        {
            // Move every pointer from one array to the other in an order the
            // marker does not follow, while it scans both.
            let (f, t) = (from.get(&m), to.get(&m));
            let (src, dst) = if round % 2 == 0 { (f, t) } else { (t, f) };
            for k in 0..N {
                let i = (k * 7919) % N;
                let x = src[i].f.get(&m);
                dst[(i + round + 1) % N].f.set(&m, x);
                src[i].f.set(&m, None);
            }
        }
        m.safepoint();
        staller.order(SAFEPOINT);
        drop(staller);
        m.collect();
        let (f, t) = (from.get(&m), to.get(&m));
        let dst = if round % 2 == 0 { t } else { f };
        let mut sum = 0u64;
        for h in dst.iter() {
            let l = h.f.get(&m).expect("every slot filled");
            assert_eq!(l._pad[0], l.canary, "a moved leaf was freed");
            sum += l.canary;
        }
        assert_eq!(sum, (N as u64 - 1) * N as u64 / 2);
    }
}

#[test]
fn a_weak_upgraded_during_mark_keeps_its_target() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let b = m.root(m.alloc(Holder { f: Member::null() }));
    let w = {
        let x = m.alloc(leaf(7));
        m.weak(x)
    };
    // x is reachable only through the Weak from here on.
    let staller = Staller::new(&heap);
    heap.request_cycle();
    wait_polling(&heap, &mut m, Phase::Arm);
    m.safepoint(); // adopt Arm
    staller.order(POLL);
    wait_polling(&heap, &mut m, Phase::Mark); // and turn black in Mark
    std::thread::sleep(Duration::from_millis(30)); // b is scanned
    {
        let x = w.upgrade(&m).expect("the cycle has not decided yet");
        b.get(&m).f.set(&m, Some(x)); // insertion half off: black stack
    }
    staller.order(SAFEPOINT);
    drop(staller);
    m.collect();
    m.collect();
    assert_eq!(b.get(&m).f.get(&m).expect("kept").canary, 7);
    assert!(w.upgrade(&m).is_some());
}

#[test]
fn a_weak_to_a_dead_object_in_an_unswept_span_does_not_upgrade() {
    // The staller allocates the target in a span it keeps cached, then holds
    // the flip unadopted: the span stays unswept (cached since before the
    // flip), so the upgrade must answer from the mark bit.
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let (tx, rx) = std::sync::mpsc::channel();
    let order = Arc::new(AtomicU32::new(HOLD));
    let (o, h) = (order.clone(), heap.clone());
    let t = std::thread::spawn(move || {
        let mut ms = h.attach();
        {
            let x = ms.alloc(leaf(9));
            tx.send(ms.weak(x)).expect("send");
        }
        ms.safepoint();
        // Pass safepoints (stack black) until told to stop, without ever
        // adopting the flip at a poll afterwards.
        while o.load(Ordering::Acquire) == HOLD {
            ms.safepoint();
            std::thread::yield_now();
        }
        // One more safepoint, now certainly in Mark (the test observed Mark
        // before its order, and the cycle cannot end before this P is
        // black); then hold: attached, black, not polling.
        ms.safepoint();
        o.store(SAFEPOINT, Ordering::Release);
        while o.load(Ordering::Acquire) != LEAVE {
            std::thread::yield_now();
        }
        ms.safepoint();
    });
    let w = rx.recv().expect("weak");
    heap.request_cycle();
    wait_polling(&heap, &mut m, Phase::Mark);
    order.store(POLL, Ordering::Release);
    while order.load(Ordering::Acquire) != SAFEPOINT {
        std::thread::yield_now();
    }
    // The cycle ends without the staller's poll: its spans are unswept.
    wait_polling(&heap, &mut m, Phase::Off);
    assert!(
        w.upgrade(&m).is_none(),
        "a dead object was handed out from an unswept span"
    );
    order.store(LEAVE, Ordering::Release);
    t.join().expect("staller");
    m.collect();
    assert!(w.upgrade(&m).is_none());
    assert!(w.is_cleared());
}

#[test]
fn a_refill_that_races_a_flip_allocates_white() {
    // A P black in Mark(n) is held before a refill until the collector has
    // flipped to Off(n); the refill then returns a span swept for the next
    // cycle while the P still allocates black. The object must stay white:
    // a black bit would outlive its cycle (checkmark aborts before the next
    // Arm if one does).
    use std::sync::atomic::AtomicBool;
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let keep = m.root(m.alloc(Holder { f: Member::null() }));
    for round in 0..8u64 {
        heap.request_cycle();
        wait_polling(&heap, &mut m, Phase::Mark); // black for this cycle
        let fired = Arc::new(AtomicBool::new(false));
        let flipped = Arc::new(AtomicBool::new(false));
        let h = heap.clone();
        let (f, fl) = (fired.clone(), flipped.clone());
        gomem::hooks::set_refill_hook(
            &heap,
            Some(Arc::new(move || {
                if !f.swap(true, Ordering::AcqRel) {
                    // The only P is black and holds no grey work: the
                    // cycle can end while this mutator waits here.
                    let start = Instant::now();
                    while h.gc_phase() != Phase::Off && start.elapsed() < Duration::from_secs(30) {
                        std::thread::yield_now();
                    }
                    fl.store(h.gc_phase() == Phase::Off, Ordering::Release);
                }
            })),
        );
        {
            // Fill spans until a refill has hit the hook, keeping the last
            // leaf so that the next cycle has something to check.
            let mut last = None;
            while !fired.load(Ordering::Acquire) {
                last = Some(m.alloc(leaf(round)));
            }
            for _ in 0..1000 {
                last = Some(m.alloc(leaf(round)));
            }
            keep.get(&m).f.set(&m, last);
        }
        gomem::hooks::set_refill_hook(&heap, None);
        assert!(
            flipped.load(Ordering::Acquire),
            "the cycle did not end while the mutator waited before its refill"
        );
        m.safepoint();
        m.collect(); // its Arm runs checkmark's "no mark survives"
        assert_eq!(keep.get(&m).f.get(&m).expect("kept").canary, round);
    }
}
