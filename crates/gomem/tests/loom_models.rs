//! Loom models of gomem's lock-free collector protocols (DESIGN.md §4).
//!
//! Each model mirrors one piece of the real code on loom atomics, keeping the
//! real CAS sequences and memory orderings, and reuses gomem's real GC-word
//! encoding ([`GcWord`], pure functions over a `u64`). The comment on each
//! model names the functions it mirrors. Models that must be *found unsafe*
//! (negative controls: a protocol step left out on purpose) are
//! `#[should_panic(expected = "UNSAFE")]`: every safety assertion's message
//! starts with `UNSAFE`, so a control passes only when loom finds the very
//! violation it is about (not a deadlock or an exhausted branch budget).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p gomem --release --test loom_models`;
//! without `--cfg loom` this file compiles to nothing.
#![cfg(loom)]

use gomem::internals::GcWord;
use gomem::Phase;
use loom::cell::UnsafeCell;
use loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The cycle every model runs (any n > 0).
const N: u32 = 1;

/// Runs `f` under loom with at most `preemptions` preemptions per execution
/// (`None`: exhaustive), unless `LOOM_MAX_PREEMPTIONS` says otherwise. The
/// bounds keep every model to seconds; each found its negative control.
fn model(preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = preemptions;
    }
    b.check(f);
}

// ---------------------------------------------------------------------------
// The GC word: gc/state.rs `GcWordCell for AtomicU64`, line for line, on a
// loom AtomicU64.
// ---------------------------------------------------------------------------

/// `ACTIVE_ONE` of gc/state.rs (private there): the encoding of one agent.
const ACTIVE_ONE: u64 = GcWord(0).plus_active().0;

struct Word(AtomicU64);

impl Word {
    fn new(w: GcWord) -> Word {
        Word(AtomicU64::new(w.0))
    }

    /// `GcWordCell::word`.
    fn word(&self) -> GcWord {
        GcWord(self.0.load(Acquire))
    }

    /// `GcWordCell::register`; on success returns the word it replaced.
    fn register(&self, n: u32) -> Result<GcWord, GcWord> {
        let mut cur = self.word();
        loop {
            if cur.cycle() != n || !matches!(cur.phase(), Phase::Arm | Phase::Mark) {
                return Err(cur);
            }
            match self
                .0
                .compare_exchange_weak(cur.0, cur.plus_active().0, AcqRel, Acquire)
            {
                Ok(_) => return Ok(cur),
                Err(v) => cur = GcWord(v),
            }
        }
    }

    /// `GcWordCell::deregister`.
    fn deregister(&self) {
        let prev = GcWord(self.0.fetch_sub(ACTIVE_ONE, AcqRel));
        assert!(prev.active() > 0, "deregister without register");
    }

    /// `GcWordCell::set_dirty_if_term`.
    fn set_dirty_if_term(&self, n: u32) {
        let mut cur = self.word();
        while cur.phase() == Phase::Term && cur.cycle() == n && !cur.dirty() {
            match self
                .0
                .compare_exchange_weak(cur.0, cur.with_dirty().0, AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(v) => cur = GcWord(v),
            }
        }
    }

    /// `GcWordCell::transition`.
    fn transition(&self, from: GcWord, to: GcWord) -> bool {
        self.0
            .compare_exchange(from.0, to.0, AcqRel, Acquire)
            .is_ok()
    }

    /// gc/cycle.rs `back_to_mark`.
    fn back_to_mark(&self, n: u32) {
        loop {
            let cur = self.word();
            if cur.phase() != Phase::Term || cur.cycle() != n {
                return;
            }
            if self.transition(cur, cur.with_phase(Phase::Mark).without_dirty()) {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A model heap for marking: a fixed object graph with mark bits, "scanned"
// flags (model bookkeeping: black = scanned), the global grey queue (the
// crossbeam Injector of gc/mark.rs `MarkState::queue`, modelled by a loom
// Mutex<Vec>) and the GC word.
// ---------------------------------------------------------------------------

/// Object i's Members (the graph never changes: no mutator writes fields in
/// these models; the barrier has its own models). Objects without Members
/// are noscan: marking turns them black at once, as in `Drain::shade`.
///
/// ```text
/// 0 ─→ 1 ─→ 2        5 ─→ 6   (5: reachable from no root)
///  └─→ 3 ─→ 4
/// ```
const GRAPH: [&[usize]; 7] = [&[1, 3], &[2], &[], &[4], &[], &[6], &[]];
const OBJECTS: usize = GRAPH.len();

struct MarkHeap {
    marked: [AtomicBool; OBJECTS],
    scanned: [AtomicBool; OBJECTS],
    queue: Mutex<Vec<usize>>,
    gc: Word,
}

impl MarkHeap {
    /// Mark(N) with the roots scanned: `black` objects are marked and
    /// scanned, `grey` ones marked and in the queue.
    fn new(black: &[usize], grey: &[usize]) -> MarkHeap {
        let h = MarkHeap {
            marked: std::array::from_fn(|_| AtomicBool::new(false)),
            scanned: std::array::from_fn(|_| AtomicBool::new(false)),
            queue: Mutex::new(Vec::new()),
            gc: Word::new(GcWord::new(Phase::Mark, N)),
        };
        for &b in black {
            h.marked[b].store(true, Relaxed);
            h.scanned[b].store(true, Relaxed);
        }
        for &g in grey {
            h.marked[g].store(true, Relaxed);
            h.queue.lock().unwrap().push(g);
        }
        h
    }

    /// alloc/span.rs `MSpan::try_mark`: a Relaxed test, then a Relaxed
    /// store of the object's own mark byte, no read-modify-write. True if
    /// the object looked white: two racing markers may both get true and
    /// both queue it, which the model allows (a second scan is harmless).
    fn try_mark(&self, o: usize) -> bool {
        if self.marked[o].load(Relaxed) {
            return false;
        }
        self.marked[o].store(true, Relaxed);
        true
    }

    /// gc/mark.rs `MarkState::queue_is_empty`.
    fn queue_is_empty(&self) -> bool {
        self.queue.lock().unwrap().is_empty()
    }

    /// The marking invariant of a finished cycle, checked after the flip:
    /// nothing grey is left, and every object reachable from `roots` is
    /// marked (so it survives the sweep) and was scanned (so its Members
    /// were marked too).
    fn check_flipped(&self, roots: &[usize], when: &str) {
        assert!(
            self.queue.lock().unwrap().is_empty(),
            "UNSAFE ({when}): grey objects left in the queue after the flip"
        );
        for o in 0..OBJECTS {
            if self.marked[o].load(Acquire) {
                assert!(
                    self.scanned[o].load(Acquire),
                    "UNSAFE ({when}): object {o} is marked but was never scanned after the flip"
                );
            }
        }
        let mut todo = roots.to_vec();
        while let Some(o) = todo.pop() {
            assert!(
                self.marked[o].load(Acquire),
                "UNSAFE ({when}): reachable object {o} is white after the flip (it would be freed)"
            );
            todo.extend_from_slice(GRAPH[o]);
        }
    }
}

/// gc/mark.rs `Drain`: a private grey stack, the shared queue behind it.
/// `Drop` flushes the stack to the queue, as the real one does.
struct Drain<'a> {
    h: &'a MarkHeap,
    stack: Vec<usize>,
    spill_at: usize,
}

impl<'a> Drain<'a> {
    fn new(h: &'a MarkHeap) -> Drain<'a> {
        Drain {
            h,
            stack: Vec::new(),
            spill_at: usize::MAX,
        }
    }

    /// `Drain::shade`: mark, and queue privately if it was white and must
    /// be scanned (a noscan object is black once marked).
    fn shade(&mut self, o: usize) -> bool {
        if !self.h.try_mark(o) {
            return false;
        }
        if GRAPH[o].is_empty() {
            self.h.scanned[o].store(true, Release);
        } else {
            self.stack.push(o);
        }
        true
    }

    /// `Drain::scan`: the object turns black; its Members are shaded.
    fn scan(&mut self, o: usize) {
        self.h.scanned[o].store(true, Release);
        for &c in GRAPH[o] {
            self.shade(c);
        }
    }

    /// `Drain::next`: local first, then the global queue (the real one steals
    /// a batch; one object is enough here).
    fn next(&mut self) -> Option<usize> {
        if let Some(o) = self.stack.pop() {
            return Some(o);
        }
        self.h.queue.lock().unwrap().pop()
    }

    /// `Drain::maybe_spill`: offer half of a large stack when the queue is
    /// empty (the real threshold is 8, checked every 64 objects).
    fn maybe_spill(&mut self) {
        if self.stack.len() > self.spill_at && self.h.queue_is_empty() {
            let half = self.stack.len() / 2;
            let mut q = self.h.queue.lock().unwrap();
            q.extend(self.stack.drain(..half));
        }
    }

    /// `Drain::run`, with a budget in objects scanned (the real one counts
    /// bytes).
    fn run(&mut self, budget: usize) {
        let mut done = 0;
        while let Some(o) = self.next() {
            self.scan(o);
            self.maybe_spill();
            done += 1;
            if done >= budget {
                break;
            }
        }
    }

    /// `Drain::flush`.
    fn flush(&mut self) {
        if !self.stack.is_empty() {
            self.h.queue.lock().unwrap().append(&mut self.stack);
        }
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// gc/cycle.rs `try_terminate` (roots scanned and stacks black are given;
/// the barrier-buffer check is model 3's): the queue pre-check, CAS
/// `{Mark, 0, 0} → Term`, the terminator's own check, then the flip CAS
/// `{Term, 0, 0} → Off` or `back_to_mark`. `at_term` runs right after the
/// CAS to Term; `at_flip` right after a successful flip.
fn try_terminate(h: &MarkHeap, at_term: impl FnOnce(), at_flip: impl FnOnce()) -> bool {
    if !h.queue_is_empty() {
        return false;
    }
    if !h
        .gc
        .transition(GcWord::new(Phase::Mark, N), GcWord::new(Phase::Term, N))
    {
        return false;
    }
    at_term();
    let found = !h.queue_is_empty();
    if !found
        && h.gc
            .transition(GcWord::new(Phase::Term, N), GcWord::new(Phase::Off, N))
    {
        at_flip();
        return true;
    }
    h.gc.back_to_mark(N);
    false
}

/// gc/cycle.rs `help_mark`: drain as a registered agent.
fn help_mark(h: &MarkHeap) {
    if h.queue_is_empty() || h.gc.register(N).is_err() {
        return;
    }
    {
        let mut d = Drain::new(h);
        d.run(usize::MAX);
    }
    h.gc.deregister();
}

// ---------------------------------------------------------------------------
// Model 1: termination vs a late shade (a Root operation or Weak upgrade that
// greys a white object).
// ---------------------------------------------------------------------------

/// How the mutator's Root operation behaves when it finds the word in Term.
#[derive(Clone, Copy)]
enum LateShade {
    /// The real protocol, gc/state.rs `GcWordCell::with_registration` (+ gc/mark.rs `MarkState::shade_now`): set
    /// `dirty`, wait for Mark, register, shade, deregister.
    DirtyThenWait,
    /// Negative control: shade at once, without setting `dirty`.
    NoDirty,
    /// Negative control: shade at once, then set `dirty`.
    DirtyAfterShade,
}

/// gc/state.rs `with_registration(n, || { Drain::new(..).shade(addr) })`, with
/// the Term branch replaced by `how`. Returns whether it shaded.
fn root_op(h: &MarkHeap, target: usize, how: LateShade) -> bool {
    let shade = || {
        let mut d = Drain::new(h);
        d.shade(target);
        // `d` drops here: flushed to the queue before any deregister.
    };
    loop {
        let w = h.gc.word();
        if w.cycle() != N || w.phase() == Phase::Off {
            // Cycle over: the Off path answers from the mark bit (a Weak to
            // a white object upgrades to None); nothing is shaded.
            return false;
        }
        if w.phase() == Phase::Term {
            match how {
                LateShade::DirtyThenWait => {
                    h.gc.set_dirty_if_term(N);
                    thread::yield_now();
                    continue;
                }
                LateShade::NoDirty => {
                    shade();
                    return true;
                }
                LateShade::DirtyAfterShade => {
                    shade();
                    h.gc.set_dirty_if_term(N);
                    return true;
                }
            }
        }
        if h.gc.register(N).is_ok() {
            shade();
            h.gc.deregister();
            return true;
        }
    }
}

/// Terminator: the Mark arm of gc/cycle.rs `coordinator` (try_terminate,
/// else help_mark), a bounded number of times, on a heap where root 0 and
/// its branch 3 → 4 are black and 1 is grey (2 still white). Mutator: one
/// Root operation on object 5, which no root reaches (a Weak upgrade
/// resurrecting it, say); its Member 6 must survive too if the upgrade
/// succeeded.
fn late_shade_model(how: LateShade) {
    model(Some(5), move || {
        let h = Arc::new(MarkHeap::new(&[0, 3, 4], &[1]));
        let mutator = {
            let h = h.clone();
            thread::spawn(move || root_op(&h, 5, how))
        };
        let mut flipped = false;
        for _ in 0..3 {
            if try_terminate(
                &h,
                || {},
                || {
                    // At the flip: no grey object, nothing marked unscanned.
                    h.check_flipped(&[0], "at the flip");
                },
            ) {
                flipped = true;
                break;
            }
            help_mark(&h);
        }
        let resurrected = mutator.join().unwrap();
        if flipped {
            assert_eq!(h.gc.word(), GcWord::new(Phase::Off, N));
            // Everything the mutator shaded before the flip is marked and
            // scanned, and so is what it points to.
            let roots: &[usize] = if resurrected { &[0, 5] } else { &[0] };
            h.check_flipped(roots, "after the mutator");
        }
    });
}

#[test]
fn m1_termination_vs_late_shade() {
    late_shade_model(LateShade::DirtyThenWait);
}

#[test]
#[should_panic(expected = "UNSAFE")]
fn m1_control_late_shade_without_dirty_is_unsafe() {
    late_shade_model(LateShade::NoDirty);
}

#[test]
#[should_panic(expected = "UNSAFE")]
fn m1_control_dirty_after_the_shade_is_unsafe() {
    late_shade_model(LateShade::DirtyAfterShade);
}

// ---------------------------------------------------------------------------
// Model 2: registration pins the phase.
// ---------------------------------------------------------------------------

/// Workers: gc/state.rs `register`/`deregister` around work, as every agent
/// does (gc/cycle.rs `worker`, `help_mark`, `scan_roots`; gc/state.rs
/// `with_registration`). Coordinator: gc/cycle.rs `enter_mark` (Arm → Mark
/// keeping `active`), then the termination CASes of `try_terminate` and
/// `back_to_mark`. Asserts: a registration succeeds only from Arm(n)/Mark(n);
/// while registered the phase stays Arm/Mark of n; in Term the terminator
/// never sees `active > 0`.
#[test]
fn m2_registration_pins_the_phase() {
    model(Some(3), || {
        let gc = Arc::new(Word::new(GcWord::new(Phase::Arm, N)));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let gc = gc.clone();
                thread::spawn(move || {
                    for _ in 0..2 {
                        match gc.register(N) {
                            Ok(prev) => {
                                assert!(
                                    matches!(prev.phase(), Phase::Arm | Phase::Mark)
                                        && prev.cycle() == N,
                                    "UNSAFE: registered from {prev:?}"
                                );
                                let w = gc.word();
                                assert!(
                                    matches!(w.phase(), Phase::Arm | Phase::Mark)
                                        && w.cycle() == N
                                        && w.active() >= 1,
                                    "UNSAFE: phase moved under a registered agent: {:?}",
                                    w.phase()
                                );
                                gc.deregister();
                            }
                            Err(w) => assert!(
                                !matches!(w.phase(), Phase::Arm | Phase::Mark),
                                "registration refused in {:?}",
                                w.phase()
                            ),
                        }
                    }
                })
            })
            .collect();
        // enter_mark.
        loop {
            let cur = gc.word();
            if cur.phase() != Phase::Arm {
                break;
            }
            if gc.transition(cur, cur.with_phase(Phase::Mark)) {
                break;
            }
        }
        for _ in 0..3 {
            if !gc.transition(GcWord::new(Phase::Mark, N), GcWord::new(Phase::Term, N)) {
                thread::yield_now();
                continue;
            }
            for _ in 0..2 {
                let w = gc.word();
                assert_eq!(w.phase(), Phase::Term);
                assert_eq!(w.active(), 0, "UNSAFE: an agent is active in Term");
            }
            if gc.transition(GcWord::new(Phase::Term, N), GcWord::new(Phase::Off, N)) {
                break;
            }
            gc.back_to_mark(N);
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(gc.word().active(), 0);
    });
}

// ---------------------------------------------------------------------------
// Model 3: the barrier buffer (gc/barrier.rs `WbBuf`) — readers vs the owner.
// ---------------------------------------------------------------------------

/// Entries per block (the real one has `WB_ENTRIES` = 512).
const K: usize = 1;
/// Blocks in the model: the first one and two that `chain` puts in front.
const BLOCKS: usize = 3;

/// gc/barrier.rs `WbBlock`; `alive` stands for the block's memory (a reader
/// touching a block that `reset` freed is a use-after-free: loom reports
/// the unsynchronised access to the UnsafeCell).
struct Block {
    next: UnsafeCell<Option<usize>>,
    alive: UnsafeCell<bool>,
    cycle: AtomicU32,
    tail: AtomicUsize,
    entries: [AtomicUsize; K],
}

/// gc/barrier.rs `WbBuf`: `head` indexes `blocks` (the real one holds a
/// pointer); `chain` "allocates" the next block of the array.
struct WbBuf {
    head: AtomicUsize,
    blocks: [Block; BLOCKS],
}

/// An entry logged in cycle `c` (never 0: readers skip 0).
fn entry(c: u32, i: usize) -> usize {
    c as usize * 100 + i + 1
}

fn entry_cycle(v: usize) -> u32 {
    (v / 100) as u32
}

impl WbBuf {
    /// `WbBuf::default` followed by `reset(cycle)`.
    fn new(cycle: u32) -> WbBuf {
        WbBuf {
            head: AtomicUsize::new(0),
            blocks: std::array::from_fn(|i| Block {
                next: UnsafeCell::new(None),
                alive: UnsafeCell::new(i == 0),
                cycle: AtomicU32::new(cycle),
                tail: AtomicUsize::new(0),
                entries: std::array::from_fn(|_| AtomicUsize::new(0)),
            }),
        }
    }

    fn head(&self) -> &Block {
        &self.blocks[self.head.load(Acquire)]
    }

    /// `WbBuf::push`.
    fn push(&self, v: usize) -> bool {
        let b = self.head();
        let t = b.tail.load(Relaxed);
        if t == K {
            return false;
        }
        b.entries[t].store(v, Relaxed);
        b.tail.store(t + 1, Release);
        true
    }

    /// `WbBuf::drain_head`.
    fn drain_head(&self, mut f: impl FnMut(usize)) {
        let b = self.head();
        let t = b.tail.load(Relaxed);
        for e in &b.entries[..t] {
            f(e.load(Relaxed));
        }
        b.tail.store(0, Release);
    }

    /// `WbBuf::chain` (block `old + 1` is the freshly allocated one: its
    /// fields are written before the Release store of `head` publishes it).
    fn chain(&self, cycle: u32) {
        let old = self.head.load(Relaxed);
        assert!(old + 1 < BLOCKS, "model has room for {} chains", BLOCKS - 1);
        let b = &self.blocks[old + 1];
        // SAFETY: only the owner writes a fresh block before publishing it;
        // loom's UnsafeCell reports any access that could race with these.
        b.alive.with_mut(|a| unsafe { *a = true });
        // SAFETY: as above.
        b.next.with_mut(|n| unsafe { *n = Some(old) });
        b.cycle.store(cycle, Relaxed);
        b.tail.store(0, Relaxed);
        self.head.store(old + 1, Release);
    }

    /// `WbBuf::reset`: frees the blocks behind the head (a plain write of
    /// `next` and frees: no reader may overlap this), then `retag`.
    fn reset(&self, cycle: u32) {
        self.reset_with(cycle, false);
    }

    /// `reset`; with `only_if_chained` it writes the head's `next` only when
    /// a block is chained (the fix suggested by model m3d).
    fn reset_with(&self, cycle: u32, only_if_chained: bool) {
        let head = &self.blocks[self.head.load(Relaxed)];
        // SAFETY (this and the accesses below): the owner's plain reads and
        // writes of the block chain; loom's UnsafeCell fails the model if a
        // reader can overlap them, which is what the m3 models check.
        let chained = !only_if_chained || head.next.with(|n| unsafe { (*n).is_some() });
        let mut next = if chained {
            // SAFETY: as above.
            head.next.with_mut(|n| unsafe { (*n).take() })
        } else {
            None
        };
        while let Some(i) = next {
            let b = &self.blocks[i];
            // SAFETY: as above.
            next = b.next.with_mut(|n| unsafe { (*n).take() });
            // SAFETY: as above.
            b.alive.with_mut(|a| unsafe { *a = false });
        }
        self.retag(cycle, false);
    }

    /// The end of `WbBuf::reset`: `tail = 0` (Release) *before* the new tag
    /// (Release). `tag_first` swaps the two stores (negative control).
    fn retag(&self, cycle: u32, tag_first: bool) {
        let head = &self.blocks[self.head.load(Relaxed)];
        if tag_first {
            head.cycle.store(cycle, Release);
            head.tail.store(0, Release);
        } else {
            head.tail.store(0, Release);
            head.cycle.store(cycle, Release);
        }
    }

    /// `WbBuf::for_each`.
    fn for_each(&self, cycle: u32, mut f: impl FnMut(usize)) {
        let mut b = Some(self.head.load(Acquire));
        while let Some(i) = b {
            let block = &self.blocks[i];
            assert!(
                // SAFETY: a reader's access, checked by loom against the
                // owner's writes (a race fails the model).
                block.alive.with(|a| unsafe { *a }),
                "UNSAFE: reader walked into a freed block"
            );
            if block.cycle.load(Acquire) == cycle {
                let t = block.tail.load(Acquire);
                for e in &block.entries[..t] {
                    let v = e.load(Relaxed);
                    if v != 0 {
                        f(v);
                    }
                }
            }
            // SAFETY: as for `alive` above.
            b = block.next.with(|n| unsafe { *n });
        }
    }
}

/// The property the `tail = 0` before re-tag order exists for: a reader of
/// the *new* cycle never reads an entry left over from the old one (which
/// may point to an object the old cycle's sweep freed). Owner: the retag
/// half of `reset(N+1)` over a full block of cycle N, then a push for N+1;
/// reader: `for_each(N+1)`. (Only the retag half: the real `reset` also
/// writes `next` non-atomically and frees blocks, so no reader may overlap
/// a whole `reset` at all — model m3c checks that none does.)
fn retag_model(tag_first: bool) {
    model(None, move || {
        let wb = Arc::new(WbBuf::new(N));
        for i in 0..K {
            assert!(wb.push(entry(N, i)));
        }
        let owner = {
            let wb = wb.clone();
            thread::spawn(move || {
                wb.retag(N + 1, tag_first);
                assert!(wb.push(entry(N + 1, 0)));
            })
        };
        wb.for_each(N + 1, |v| {
            assert_eq!(
                entry_cycle(v),
                N + 1,
                "UNSAFE: reader of cycle {} read entry {v} of cycle {}",
                N + 1,
                entry_cycle(v)
            );
        });
        owner.join().unwrap();
    });
}

#[test]
fn m3a_barrier_new_cycle_reader_never_sees_old_entries() {
    retag_model(false);
}

#[test]
#[should_panic(expected = "UNSAFE")]
fn m3a_control_retag_before_tail_reset_is_unsafe() {
    retag_model(true);
}

/// The reader of the *old* cycle racing the owner's reset, which the brief
/// asked about: reader `for_each(N)` (tag, then tail, then entries) while
/// the owner resets for N+1 and pushes an N+1 entry. Loom finds an entry of
/// N+1 read under tag N, with any orderings: the reader loads the tag (N),
/// the owner then runs `reset` (tail = 0, tag = N+1) and `push` (entry,
/// tail = 1), and the reader's tail load (1) and entry load return the new
/// cycle's. The tag check does not protect an old-cycle reader; the real
/// code is safe only because no reader of cycle N can overlap the reset
/// (model m3c).
#[test]
#[should_panic(expected = "UNSAFE")]
fn m3b_control_old_cycle_reader_concurrent_with_reset_is_unsafe() {
    model(None, || {
        let wb = Arc::new(WbBuf::new(N));
        let owner = {
            let wb = wb.clone();
            thread::spawn(move || {
                wb.retag(N + 1, false);
                assert!(wb.push(entry(N + 1, 0)));
            })
        };
        wb.for_each(N, |v| {
            assert_eq!(
                entry_cycle(v),
                N,
                "UNSAFE: reader of cycle {N} read entry {v} of cycle {}",
                entry_cycle(v)
            );
        });
        owner.join().unwrap();
    });
}

/// The real setting of the buffer's only cross-thread reader. Terminator
/// (gc/cycle.rs `try_terminate` then `coordinator`'s next `start_cycle`):
/// CAS Mark(N) → Term(N), `for_each(N)` over every block, CAS Term → Off(N),
/// CAS Off(N) → Arm(N+1). Owner (mutator.rs `log` / `wb_full`, gc/barrier.rs `WbBuf::make_room` /
/// `P::adopt`): logs two pointers into a one-entry block — the second hits
/// `wb_full`, which drains the block as a registered agent in Mark, or
/// chains a new block in Term, or (cycle over) adopts the flip — then polls
/// (`adopt`: `adopt_flip` resets for N and turns the barrier off,
/// `adopt_arm` resets for N+1) and, if the barrier is on again, logs for
/// N+1. Asserts: the reader sees only entries of cycle N and never walks
/// into a block that `reset` freed.
#[test]
fn m3c_barrier_reader_in_term_vs_owner_log_chain_and_reset() {
    model(None, || {
        let gc = Arc::new(Word::new(GcWord::new(Phase::Mark, N)));
        let wb = Arc::new(WbBuf::new(N));
        let owner = {
            let (gc, wb) = (gc.clone(), wb.clone());
            thread::spawn(move || {
                // P-local state (gc/proc.rs `PLocal`): adopted Mark(N).
                let mut adopted = GcWord::new(Phase::Mark, N);
                let mut barrier_on = true;
                let mut logs = 0usize;
                // `P::adopt` for a running P.
                let adopt = |adopted: &mut GcWord, barrier_on: &mut bool| {
                    let w = gc.word();
                    let a = *adopted;
                    if a.phase() != Phase::Off
                        && (w.cycle() != a.cycle() || w.phase() == Phase::Off)
                    {
                        // adopt_flip
                        wb.reset(a.cycle());
                        *barrier_on = false;
                        *adopted = GcWord::new(Phase::Off, a.cycle());
                    }
                    if w.phase() != Phase::Off && adopted.phase() == Phase::Off {
                        // adopt_arm
                        wb.reset(w.cycle());
                        *barrier_on = true;
                        *adopted = GcWord::new(Phase::Arm, w.cycle());
                    }
                };
                // `Heap::log` + `wb_full`.
                let mut log = |adopted: &mut GcWord, barrier_on: &mut bool| {
                    if !*barrier_on {
                        return;
                    }
                    let i = logs;
                    logs += 1;
                    if wb.push(entry(adopted.cycle(), i)) {
                        return;
                    }
                    let n = adopted.cycle();
                    let w = gc.word();
                    if w.cycle() == n && matches!(w.phase(), Phase::Arm | Phase::Mark) {
                        if gc.register(n).is_ok() {
                            wb.drain_head(|_| {});
                            gc.deregister();
                        } else {
                            wb.chain(n);
                        }
                    } else if w.cycle() == n && w.phase() == Phase::Term {
                        wb.chain(n);
                    } else {
                        adopt(adopted, barrier_on);
                        wb.drain_head(|_| {});
                        if !*barrier_on {
                            return;
                        }
                    }
                    // Logged under the cycle adopted now (`adopt` may have
                    // moved it on: the field store follows the log).
                    let v = entry(adopted.cycle(), i);
                    if !wb.push(v) {
                        wb.chain(adopted.cycle());
                        wb.push(v);
                    }
                };
                log(&mut adopted, &mut barrier_on);
                log(&mut adopted, &mut barrier_on);
                adopt(&mut adopted, &mut barrier_on);
                log(&mut adopted, &mut barrier_on);
            })
        };
        for _ in 0..2 {
            if gc.transition(GcWord::new(Phase::Mark, N), GcWord::new(Phase::Term, N)) {
                wb.for_each(N, |v| {
                    assert_eq!(
                        entry_cycle(v),
                        N,
                        "UNSAFE: terminator of cycle {N} read entry {v} of cycle {}",
                        entry_cycle(v)
                    );
                });
                assert!(gc.transition(GcWord::new(Phase::Term, N), GcWord::new(Phase::Off, N)));
                assert!(gc.transition(GcWord::new(Phase::Off, N), GcWord::new(Phase::Arm, N + 1)));
                break;
            }
            thread::yield_now();
        }
        owner.join().unwrap();
    });
}

/// A P created while the terminator checks (heap.rs `Heap::attach` →
/// gc/collector.rs `take_p`, then `P::adopt(Term(N))`): a new P starts at Off and
/// adopts Arm at once (`adopt_arm` → `WbBuf::reset(N)`), while the
/// terminator, which lists the Ps after its CAS to Term (`try_terminate`:
/// `for p in heap.all_ps()`), may already run `for_each(N)` on the new P's
/// buffer. `reset` writes the head block's `next` (null over null) with a
/// plain store that `for_each` reads with a plain load, with no
/// happens-before between them: a data race (UB in Rust's memory model,
/// harmless in practice as the value does not change). Loom reports it.
fn new_p_model(only_if_chained: bool) {
    model(None, move || {
        let wb = Arc::new(WbBuf::new(0));
        let owner = {
            let wb = wb.clone();
            thread::spawn(move || {
                // adopt_arm(N) then the barrier logs (its stack is grey).
                wb.reset_with(N, only_if_chained);
                assert!(wb.push(entry(N, 0)));
            })
        };
        wb.for_each(N, |v| assert_eq!(entry_cycle(v), N));
        owner.join().unwrap();
    });
}

#[test]
#[should_panic(expected = "Causality violation")]
fn m3d_control_new_p_reset_races_the_terminators_read() {
    new_p_model(false);
}

/// The same with `reset` writing `next` only when a block is chained (a new
/// P never has one): no race.
#[test]
fn m3d_new_p_reset_writing_next_only_if_chained() {
    new_p_model(true);
}

// ---------------------------------------------------------------------------
// Model 4: each span is swept exactly once.
// ---------------------------------------------------------------------------

/// The heap's sweep generation in the model (Off(N)).
const H: u32 = 2 + 2 * N;

/// A span: its sweepgen and the bits a sweep rewrites (mark → alloc bits);
/// loom checks that no two threads touch the bits without synchronisation.
struct SweepSpan {
    sweepgen: AtomicU32,
    bits: UnsafeCell<u32>,
    sweeps: AtomicUsize,
}

impl SweepSpan {
    /// alloc/span.rs `MSpan::try_acquire_for_sweep`.
    fn try_acquire_for_sweep(&self, sg: u32) -> bool {
        self.sweepgen
            .compare_exchange(sg.wrapping_sub(2), sg.wrapping_sub(1), AcqRel, Relaxed)
            .is_ok()
    }

    /// gc/sweep.rs `sweep_span`: rewrite the bits, then publish the new
    /// generation (Release).
    fn sweep_owned(&self, sg: u32) {
        // SAFETY: the sweeper owns the span after its CAS; loom's
        // UnsafeCell fails the model if anyone else can touch the bits now.
        self.bits.with_mut(|b| unsafe { *b += 1 });
        self.sweeps.fetch_add(1, Relaxed);
        self.sweepgen.store(sg, Release);
    }
}

/// Two sweepers (gc/cycle.rs `sweep_step`, alloc/central.rs
/// `sweep_for_space`: CAS h−2 → h−1, sweep, store h) race on one unswept
/// span while an mcache refill (central.rs `cache_span`, which uses a span
/// only at sweepgen h) looks at it. Asserts: exactly one sweep; the reader
/// that sees h sees the swept bits.
#[test]
fn m4_sweep_exactly_once() {
    model(None, || {
        let s = Arc::new(SweepSpan {
            sweepgen: AtomicU32::new(H - 2),
            bits: UnsafeCell::new(0),
            sweeps: AtomicUsize::new(0),
        });
        let sweepers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || {
                    if s.try_acquire_for_sweep(H) {
                        s.sweep_owned(H);
                    }
                })
            })
            .collect();
        if s.sweepgen.load(Acquire) == H {
            // SAFETY: read after seeing generation h (Acquire); loom checks
            // that it cannot race with the sweeper's write.
            let b = s.bits.with(|b| unsafe { *b });
            assert_eq!(b, 1, "UNSAFE: span published as swept before its sweep");
        }
        for t in sweepers {
            t.join().unwrap();
        }
        assert_eq!(
            s.sweeps.load(Relaxed),
            1,
            "UNSAFE: span swept twice or never"
        );
        assert_eq!(s.sweepgen.load(Relaxed), H);
    });
}

/// A span an mcache cached before the flip (sweepgen h+1, central.rs
/// `uncache_span`'s stale path: store h−1, sweep, store h) while a
/// background sweeper tries its CAS h−2 → h−1 twice. Asserts exactly one
/// sweep.
#[test]
fn m4b_stale_cached_span_swept_once_by_its_owner() {
    model(None, || {
        let s = Arc::new(SweepSpan {
            sweepgen: AtomicU32::new(H + 1),
            bits: UnsafeCell::new(0),
            sweeps: AtomicUsize::new(0),
        });
        let sweeper = {
            let s = s.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    if s.try_acquire_for_sweep(H) {
                        s.sweep_owned(H);
                    }
                }
            })
        };
        if s.sweepgen.load(Acquire) == H.wrapping_add(1) {
            s.sweepgen.store(H.wrapping_sub(1), Release);
            s.sweep_owned(H);
        }
        sweeper.join().unwrap();
        assert_eq!(
            s.sweeps.load(Relaxed),
            1,
            "UNSAFE: span swept twice or never"
        );
    });
}

// ---------------------------------------------------------------------------
// Model 5: grey work moves between private stacks and the shared queue only
// while its mover is registered.
// ---------------------------------------------------------------------------

/// gc/cycle.rs `worker` / `help_mark`: when Mark and the queue has work,
/// register, run the drain on a budget of one object (spilling half of its
/// stack to an empty queue), flush, deregister. `flush_late` (negative
/// control) deregisters before flushing.
fn mark_worker(h: &MarkHeap, flush_late: bool) {
    for _ in 0..2 {
        let w = h.gc.word();
        if w.phase() != Phase::Mark || h.queue_is_empty() {
            thread::yield_now();
            continue;
        }
        if h.gc.register(w.cycle()).is_err() {
            continue;
        }
        let mut d = Drain::new(h);
        d.spill_at = 1;
        d.run(1);
        if flush_late {
            h.gc.deregister();
            d.flush();
            continue;
        }
        d.flush();
        drop(d);
        h.gc.deregister();
    }
}

/// Two mark workers and a terminator (`try_terminate` only) on a heap whose
/// root 0 is grey; scanning 0 greys 1 and 3, and one of them is spilled to
/// the queue for the other worker. Asserts at the
/// CAS to Term: every marked object is scanned or in the shared queue (so
/// no grey object sits in a private stack); after the flip: everything
/// reachable is marked and scanned.
fn handoff_model(flush_late: bool, preemptions: usize) {
    model(Some(preemptions), move || {
        let h = Arc::new(MarkHeap::new(&[], &[0]));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let h = h.clone();
                thread::spawn(move || mark_worker(&h, flush_late))
            })
            .collect();
        let mut flipped = false;
        for _ in 0..3 {
            let at_term = || {
                let q = h.queue.lock().unwrap();
                for o in 0..OBJECTS {
                    if h.marked[o].load(Acquire) {
                        assert!(
                            h.scanned[o].load(Acquire) || q.contains(&o),
                            "UNSAFE: grey object {o} in a private stack at Term"
                        );
                    }
                }
            };
            if try_terminate(&h, at_term, || {}) {
                flipped = true;
                break;
            }
            thread::yield_now();
        }
        for w in workers {
            w.join().unwrap();
        }
        if flipped {
            h.check_flipped(&[0], "after the workers");
        }
    });
}

#[test]
fn m5_work_queue_handoff() {
    handoff_model(false, 3);
}

#[test]
#[should_panic(expected = "UNSAFE")]
fn m5_control_flush_after_deregister_is_unsafe() {
    handoff_model(true, 2);
}
