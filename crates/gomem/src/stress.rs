//! The stress oracle: many mutators rewire one shared object graph while the
//! collector runs cycles back to back, and a shadow model kept outside the
//! heap says at every step what the graph must look like.
//!
//! **The heap side.** Every graph node is an `Obj`: an id, a canary derived
//! from the id, three `Member<Obj>` kids, a `Member` to a noscan payload
//! (`Slice<u64>` whose words are a function of the owner's id, the length
//! and the index; length 0 lands in the tiny allocator, a few are large
//! objects) and a `Member` to a `Tagged` object. `Obj` is described by a
//! pointer bitmap; `Tagged` has a `Drop` (it counts its drops in a shared
//! `Ledger` and poisons its own canary) and a `Member` back into the graph,
//! so it is a typed object that is both scanned and dropped. The roots are a
//! heap array of `Member<Obj>` held by one `Root` (root slots), a few
//! `Root<Obj>` handles ("extra roots", created, retargeted and dropped as the
//! run goes) and a `Vector<Obj>` held by a `Root` (pushes grow it by copying
//! through the barrier).
//!
//! **The model.** A `Mutex<Model>` holds, for every object the graph may
//! reach, its kid ids, payload length and tag id; the tags' back edges; the
//! model of every root; the objects a thread holds on its stack between two
//! locked sections (`in_flight`); and the live `Weak`s. Every store into the
//! graph happens under the model lock together with the matching model
//! update, so whoever holds the lock sees the heap and the model agree.
//! gomem lets a thread hold a `std::sync::Mutex` while it allocates (the
//! collector never makes a mutator wait for another); threads take the lock
//! half the time inside [`Mutator::blocking`] and half the time attached, so
//! both paths of the handshake are exercised.
//!
//! **Operations** (random, from a seeded xorshift per thread): allocate and
//! link a node (usually splicing it above the slot's old target, sometimes
//! with edges to existing nodes); build a private subtree without the lock, then
//! link it (the insertion half of the barrier); unlink; *move* a pointer
//! through the stack — read a slot, clear it, release the lock, allocate
//! garbage, re-lock, store it elsewhere (the deletion half's job: the object
//! lives only on the stack meanwhile); copy a pointer (sharing, cycles);
//! create, retarget and drop extra roots; push/pop/set the vector; replace
//! payloads and tags, retarget a tag's back edge; take `Weak`s and upgrade
//! them (a success must yield the right, intact object, and sometimes the
//! object is linked back into the graph: resurrection through a weak);
//! allocate garbage (with droppable objects, sometimes with a `Weak` to it);
//! read random paths without the lock while others rewire them. Each
//! thread calls `safepoint()` every 1–8 operations and `blocking(sleep)` now
//! and then; thread 0 calls `collect()` every `forced_collect_every`
//! operations. The graph is held between one half and three quarters of the
//! object budget (unlinks walk deep, so they cut small subgraphs; below the
//! target they turn into allocations, above it allocations turn into
//! unlinks), so marking always has a few thousand objects to trace.
//!
//! **Checks.** Every object read is checked: its address lies in this heap
//! and is aligned, its canary matches its id (a freed-and-reused or clobbered
//! object fails here), its payload words and its tag's canary are right (a
//! poisoned tag canary means its Drop ran while it was reachable). Under the
//! lock, every object met is also compared with the model (kids, payload,
//! tag, back edge). Every `verify_every`, one thread takes the lock and
//! walks the whole heap graph from the roots and the model from its roots:
//! the reachable sets and every edge must be identical, no two objects may
//! carry one id. It then checks the weak pointers: a `Weak` whose target the
//! model says is reachable (from the roots or from a stack in flight) must
//! upgrade to it; one whose target has been unreachable since a verification
//! at which `c` cycles had completed must no longer upgrade once
//! `c + LIVENESS_CYCLES` have (DESIGN §4 promises the end of the second
//! cycle; the oracle allows a third, see `LIVENESS_CYCLES`). Any upgrade
//! restarts that clock for every entry of the target
//! (an upgrade shades it), and the verifier itself never upgrades a weak
//! whose clock runs. Finally it prunes the model to what the roots, the
//! stacks in flight and the weaks can still reach (every 20 ms while the
//! model map is at its cap).
//!
//! **At the end** the graph is verified once more and dropped; two
//! `collect()`s must then bring the heap back to its baseline (see
//! [`OBJECT_TOLERANCE`]) and must have run the `Drop` of every droppable
//! object exactly once; after the heap itself is dropped the count must still
//! be exact (nothing dropped twice at teardown).
//!
//! Checkmark mode and clobber-free mode (`Config::checkmark`,
//! `Config::clobber_free`) are on by default: checkmark turns a missed mark
//! into an abort at the end of the cycle that missed it, before anything is
//! freed; clobber-free makes a freed object's canary unmistakable.
//!
//! **On failure** each message is printed on stderr at once (so a crash on
//! a corrupt heap afterwards still shows it), the run stops after
//! `max_failures`, and the heap is leaked rather than torn down (its Drops
//! would run over corrupt memory). Pointers read from the heap are checked
//! (aligned, inside this heap) before they are followed, and the root
//! array's and the vector's headers before they are indexed; gomem's own
//! `Vector` internals cannot be checked from outside, so a freed vector
//! backing array can still crash the run after the first reports.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::alloc::arena;
use crate::trace::Tracer;
use crate::{Config, Gc, Heap, MemStats, Member, Mutator, Root, Slice, Trace, Vector, Weak};

/// Environment variable that sets the run's length in seconds (tests and CI).
pub const SECONDS_VAR: &str = "GOMEM_STRESS_SECONDS";
/// Environment variable that fixes the seed.
pub const SEED_VAR: &str = "GOMEM_STRESS_SEED";

/// Live objects (outside the tiny allocator's sub-allocations) the heap may
/// still count after the graph is dropped and two cycles have run. Zero:
/// both cycles start after every mutator but the checking one has detached
/// (their Ps released their spans and published their counts) and the
/// checking one holds no object, so every object of the run is unmarked in
/// the first cycle and swept before `collect()` returns. A residue is a leak
/// (or counts that were never published).
pub const OBJECT_TOLERANCE: u64 = 0;
/// Heap bytes (Go's HeapAlloc) that may remain, for the same reason zero.
pub const BYTES_TOLERANCE: u64 = 0;

const KIDS: usize = 3;
const MAX_DEPTH: usize = 24;
const READ_DEPTH: usize = 32;
const MAX_PAYLOAD: usize = 8192;
const LARGE_PAYLOAD: usize = 4200;
const MAX_WEAKS: usize = 64;
const EXTRA_ROOTS_PER_THREAD: usize = 4;
const VEC_MAX: usize = 512;
const MAX_SUBTREE: u64 = 16;
const MAX_REPORTED: usize = 64;
/// Verification (and pruning) interval while the model map is full.
const PRUNE_EVERY_MS: u64 = 20;
/// A dropped `Tagged` object's canary.
/// Cycles after which a verified-unreachable object must be gone (its Weak
/// no longer upgrades).
const LIVENESS_CYCLES: u32 = 3;
const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

// ---- configuration and report -------------------------------------------

/// What to run (module header).
#[derive(Debug, Clone)]
pub struct StressConfig {
    /// Mutator threads.
    pub threads: usize,
    /// How long to run.
    pub duration: Duration,
    /// Stop each thread after this many operations (`None`: time only).
    pub ops_per_thread: Option<u64>,
    /// Seed of the operation mix (thread `t` uses a seed derived from it).
    pub seed: u64,
    /// Budget of model objects per thread: past `threads × this`, operations
    /// that grow the graph turn into unlinks.
    pub objects_per_thread: usize,
    /// Slots of the shared root array.
    pub root_slots: usize,
    /// GOGC of the heap (`Some(1)`: cycles back to back).
    pub gc_percent: Option<u32>,
    /// Thread 0 calls `collect()` every this many operations (0: never).
    pub forced_collect_every: u64,
    /// Interval between full verifications of heap against model.
    pub verify_every: Duration,
    /// Checkmark mode (abort when a cycle missed a reachable object).
    pub checkmark: bool,
    /// Clobber-free mode (freed objects overwritten with poison).
    pub clobber_free: bool,
    /// Print a gctrace line per cycle.
    pub gctrace: bool,
    /// Interval between progress callbacks of [`run_with_progress`].
    pub progress_every: Duration,
    /// Stop the run after this many failures.
    pub max_failures: usize,
    /// Operations not to run (names from [`OP_NAMES`]), to narrow a failure
    /// down.
    pub disabled_ops: Vec<String>,
}

impl Default for StressConfig {
    fn default() -> Self {
        StressConfig {
            threads: 4,
            duration: Duration::from_secs(10),
            ops_per_thread: None,
            seed: 0x5EED_0F60_11E1,
            objects_per_thread: 1000,
            root_slots: 64,
            gc_percent: Some(1),
            forced_collect_every: 5000,
            verify_every: Duration::from_millis(200),
            checkmark: true,
            clobber_free: true,
            gctrace: false,
            progress_every: Duration::from_secs(10),
            max_failures: 8,
            disabled_ops: Vec::new(),
        }
    }
}

/// `GOMEM_STRESS_SECONDS` if set (a positive number, fractions allowed),
/// else `default`.
///
/// # Panics
/// If the variable is set to something that is not a positive number.
pub fn duration_from_env(default: Duration) -> Duration {
    match std::env::var(SECONDS_VAR) {
        Err(_) => default,
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
            _ => panic!("{SECONDS_VAR}={v:?}: expected a positive number of seconds"),
        },
    }
}

/// `GOMEM_STRESS_SEED` if set, else a seed from the clock.
///
/// # Panics
/// If the variable is set to something that is not a `u64`.
pub fn seed_from_env() -> u64 {
    match std::env::var(SEED_VAR) {
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            mix64(t ^ u64::from(std::process::id()))
        }
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR}={v:?}: expected an unsigned integer")),
    }
}

/// What a run did and found.
#[derive(Debug, Clone, Default)]
pub struct StressReport {
    /// Wall time.
    pub elapsed: Duration,
    /// Mutator threads.
    pub threads: usize,
    /// The seed.
    pub seed: u64,
    /// Completed GC cycles.
    pub cycles: u32,
    /// Of which forced by `collect()`.
    pub forced_cycles: u32,
    /// Objects checkmark mode verified (0 when it is off).
    pub checkmarked: u64,
    /// Operations run.
    pub ops: u64,
    /// Heap objects allocated (nodes, payloads, tags, garbage).
    pub allocated: u64,
    /// Object reads whose canary, payload and tag were checked.
    pub verified_reads: u64,
    /// Full heap-against-model verifications.
    pub verifications: u64,
    /// Largest graph (objects reachable from the roots) seen by one.
    pub max_reachable: usize,
    /// Pointer stores that linked an object into the graph.
    pub links: u64,
    /// Stores that cleared a slot.
    pub unlinks: u64,
    /// Pointers moved through the stack.
    pub moves: u64,
    /// Weak upgrades that succeeded.
    pub weak_upgrades: u64,
    /// Weak upgrades that found the target gone.
    pub weak_cleared: u64,
    /// Objects linked back into the graph through a successful upgrade.
    pub resurrections: u64,
    /// Objects with a Drop allocated.
    pub droppable: u64,
    /// Drops that ran.
    pub drops: u64,
    /// HeapObjects (from the per-class counts) after the graph was dropped
    /// and two cycles ran, minus the baseline.
    pub objects_left: i64,
    /// HeapAlloc after, minus the baseline.
    pub bytes_left: i64,
    /// Things worth knowing that are not failures.
    pub notes: Vec<String>,
    /// Failures, the first 64 of them.
    pub failures: Vec<String>,
    /// Number of failures.
    pub failure_count: u64,
}

impl StressReport {
    /// Whether the run found nothing wrong.
    pub fn ok(&self) -> bool {
        self.failure_count == 0
    }

    /// One line of figures, for progress output.
    pub fn progress_line(&self) -> String {
        format!(
            "stress: {:>6.1}s  cycles {:>6}  ops {:>11}  objects {:>11}  verified {:>12}  drops {:>10}  failures {}",
            self.elapsed.as_secs_f64(),
            self.cycles,
            self.ops,
            self.allocated,
            self.verified_reads,
            self.drops,
            self.failure_count
        )
    }
}

impl fmt::Display for StressReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "stress report: {} threads, {:.1} s, seed {}",
            self.threads, secs, self.seed
        )?;
        writeln!(
            f,
            "  cycles         {:>12}  ({} forced, {:.1}/s)",
            self.cycles,
            self.forced_cycles,
            f64::from(self.cycles) / secs
        )?;
        writeln!(
            f,
            "  operations     {:>12}  ({:.0}/s)",
            self.ops,
            self.ops as f64 / secs
        )?;
        writeln!(
            f,
            "  allocated      {:>12}  ({:.0}/s)",
            self.allocated,
            self.allocated as f64 / secs
        )?;
        writeln!(f, "  verified reads {:>12}", self.verified_reads)?;
        writeln!(
            f,
            "  verifications  {:>12}  (largest graph {} objects)",
            self.verifications, self.max_reachable
        )?;
        writeln!(f, "  checkmarked    {:>12}", self.checkmarked)?;
        writeln!(
            f,
            "  links {}  unlinks {}  moves {}",
            self.links, self.unlinks, self.moves
        )?;
        writeln!(
            f,
            "  weak upgrades {}  cleared {}  resurrections {}",
            self.weak_upgrades, self.weak_cleared, self.resurrections
        )?;
        writeln!(f, "  droppable {}  drops {}", self.droppable, self.drops)?;
        writeln!(
            f,
            "  left after teardown: {} objects, {} bytes",
            self.objects_left, self.bytes_left
        )?;
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        if self.failure_count == 0 {
            write!(f, "  failures: none")
        } else {
            writeln!(f, "  FAILURES: {}", self.failure_count)?;
            for (i, m) in self.failures.iter().enumerate() {
                writeln!(f, "  [{i}] {m}")?;
            }
            Ok(())
        }
    }
}

// ---- the heap objects -----------------------------------------------------

/// A graph node (module header).
#[derive(Trace)]
struct Obj {
    id: u64,
    canary: u64,
    kids: [Member<Obj>; KIDS],
    payload: Member<Slice<u64>>,
    tag: Member<Tagged>,
}

/// A droppable, scanned object hung off a node (module header).
#[derive(Trace)]
struct Tagged {
    id: u64,
    canary: AtomicU64,
    back: Member<Obj>,
    ledger: LedgerRef,
}

/// Counts the drops of `Tagged` objects.
#[derive(Default)]
struct Ledger {
    drops: AtomicU64,
    bad: AtomicU64,
    first_bad: Mutex<Option<String>>,
}

/// The ledger as a field of a heap object.
struct LedgerRef(Arc<Ledger>);

// SAFETY: an `Arc` to counters outside the heap holds no Member; the type is
// not bitmap-described beyond "no Member words" and `trace` visits nothing.
unsafe impl Trace for LedgerRef {
    const NO_MEMBERS: bool = true;
    const MEMBER_WORDS: Option<u64> = Some(0);
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl Drop for Tagged {
    fn drop(&mut self) {
        let old = self.canary.swap(POISON, Ordering::SeqCst);
        let ledger = &self.ledger.0;
        if old != tag_canary(self.id) {
            ledger.bad.fetch_add(1, Ordering::SeqCst);
            let why = if old == POISON {
                format!("tagged object {} dropped twice", self.id)
            } else {
                format!(
                    "tagged object {} dropped with a corrupt canary {old:#x}",
                    self.id
                )
            };
            let mut first = ledger
                .first_bad
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert(why);
        }
        ledger.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn canary(id: u64) -> u64 {
    mix64(id ^ 0x0B1E_C7C0_FFEE_0B1E) | 1
}

fn tag_canary(id: u64) -> u64 {
    mix64(id ^ 0x7A66_ED7A_66ED_7A66) | 1
}

fn payload_word(owner: u64, len: usize, i: usize) -> u64 {
    mix64(owner.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ ((len as u64) << 40) ^ i as u64)
}

/// A small xorshift64* generator (no `rand` dependency).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(mix64(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }
}

// ---- the model ------------------------------------------------------------

/// What the model knows of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MObj {
    kids: [Option<u64>; KIDS],
    payload: Option<u32>,
    tag: Option<u64>,
}

/// A node as read from the heap.
struct Seen {
    id: u64,
    obj: MObj,
    tag_back: Option<u64>,
}

struct WeakEntry {
    id: u64,
    weak: Weak<Obj>,
    /// Completed cycles at the first verification that found the target
    /// unreachable (reset by any upgrade, which shades the target).
    unreachable_since: Option<u32>,
}

/// The shadow model (module header).
struct Model {
    objs: HashMap<u64, MObj>,
    /// Tag id → its back edge.
    tags: HashMap<u64, Option<u64>>,
    roots: Vec<Option<u64>>,
    extra: Vec<Option<(u64, Root<Obj>)>>,
    vec: Vec<Option<u64>>,
    in_flight: Vec<Vec<u64>>,
    weaks: Vec<WeakEntry>,
}

impl Model {
    /// Records a Weak to `o`, replacing a random entry once there are
    /// `MAX_WEAKS`.
    fn add_weak(&mut self, m: &Mutator, o: Gc<'_, Obj>, rng: &mut Rng) {
        let e = WeakEntry {
            id: o.id,
            weak: m.weak(o),
            unreachable_since: None,
        };
        if self.weaks.len() < MAX_WEAKS {
            self.weaks.push(e);
        } else {
            let i = rng.below(self.weaks.len());
            self.weaks[i] = e;
        }
    }

    /// Objects and tags reachable from `seeds` in the model.
    fn reach(&self, seeds: impl IntoIterator<Item = u64>) -> (HashSet<u64>, HashSet<u64>) {
        let mut objs = HashSet::with_capacity(self.objs.len());
        let mut tags = HashSet::new();
        let mut stack: Vec<u64> = seeds.into_iter().collect();
        while let Some(id) = stack.pop() {
            if !objs.insert(id) {
                continue;
            }
            let Some(o) = self.objs.get(&id) else {
                continue;
            };
            stack.extend(o.kids.iter().flatten());
            if let Some(t) = o.tag {
                if tags.insert(t) {
                    if let Some(Some(b)) = self.tags.get(&t) {
                        stack.push(*b);
                    }
                }
            }
        }
        (objs, tags)
    }

    fn root_ids(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.roots.iter().flatten().copied().collect();
        v.extend(self.extra.iter().flatten().map(|(id, _)| *id));
        v.extend(self.vec.iter().flatten());
        v
    }

    fn insert(&mut self, id: u64, o: MObj, tag: Option<(u64, Option<u64>)>) {
        self.objs.insert(id, o);
        if let Some((t, back)) = tag {
            self.tags.insert(t, back);
        }
    }
}

fn lock_model(m: &Mutex<Model>) -> MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---- shared state -----------------------------------------------------------

#[derive(Clone, Copy)]
enum C {
    Ops,
    Allocated,
    Verified,
    Verifications,
    Links,
    Unlinks,
    Moves,
    WeakOk,
    WeakCleared,
    Resurrections,
    Droppable,
}
const N_C: usize = 11;

/// State shared by the threads that holds no heap handle (so the heap can
/// be dropped while it lives).
struct Shared {
    cfg: StressConfig,
    model: Mutex<Model>,
    model_len: AtomicUsize,
    /// Objects reachable from the roots at the last verification.
    reachable: AtomicUsize,
    next_id: AtomicU64,
    ledger: Arc<Ledger>,
    stop: AtomicBool,
    finished: AtomicUsize,
    counters: [AtomicU64; N_C],
    max_reachable: AtomicUsize,
    failures: Mutex<Vec<String>>,
    failure_count: AtomicU64,
    start: Instant,
    last_verify_ms: AtomicU64,
    budget: usize,
    heap_id: u32,
}

impl Shared {
    fn record(&self, msg: String) {
        eprintln!("stress: FAILURE: {msg}");
        let n = self.failure_count.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut f = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            if f.len() < MAX_REPORTED {
                f.push(msg);
            }
        }
        if n as usize >= self.cfg.max_failures {
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    fn add(&self, c: C, n: u64) {
        self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, c: C) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }

    fn report(&self, heap: Option<&Heap>) -> StressReport {
        let (cycles, forced_cycles, checkmarked) = heap.map_or((0, 0, 0), |h| {
            let s = h.gc_summary();
            (s.cycles, s.forced_cycles, s.checkmarked_objects)
        });
        StressReport {
            elapsed: self.start.elapsed(),
            threads: self.cfg.threads,
            seed: self.cfg.seed,
            cycles,
            forced_cycles,
            checkmarked,
            ops: self.get(C::Ops),
            allocated: self.get(C::Allocated),
            verified_reads: self.get(C::Verified),
            verifications: self.get(C::Verifications),
            max_reachable: self.max_reachable.load(Ordering::Relaxed),
            links: self.get(C::Links),
            unlinks: self.get(C::Unlinks),
            moves: self.get(C::Moves),
            weak_upgrades: self.get(C::WeakOk),
            weak_cleared: self.get(C::WeakCleared),
            resurrections: self.get(C::Resurrections),
            droppable: self.get(C::Droppable),
            drops: self.ledger.drops.load(Ordering::SeqCst),
            objects_left: 0,
            bytes_left: 0,
            notes: Vec::new(),
            failures: self
                .failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            failure_count: self.failure_count.load(Ordering::SeqCst),
        }
    }
}

/// Everything a thread needs: the shared state and the heap handles.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    sh: &'a Shared,
    heap: &'a Heap,
    roots: &'a Root<Slice<Member<Obj>>>,
    vector: &'a Root<Vector<Obj>>,
}

/// A place that holds a pointer to a node.
#[derive(Clone, Copy)]
enum Slot<'m> {
    Root(usize),
    Kid(Gc<'m, Obj>, usize),
    Extra(usize),
    Vec(usize),
}

impl fmt::Display for Slot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Root(i) => write!(f, "root slot {i}"),
            Slot::Kid(o, k) => write!(f, "kid {k} of object {} (at {:p})", o.id, o.as_ptr()),
            Slot::Extra(i) => write!(f, "extra root {i}"),
            Slot::Vec(i) => write!(f, "vector element {i}"),
        }
    }
}

impl<'a> Ctx<'a> {
    fn fail(&self, who: &str, msg: String) {
        let s = self.heap.gc_summary();
        self.sh.record(format!(
            "[{:.3}s {who}, {} cycles done, phase {:?}] {msg}",
            self.sh.start.elapsed().as_secs_f64(),
            s.cycles,
            self.heap.gc_phase()
        ));
    }

    fn plausible(&self, addr: usize) -> bool {
        addr.is_multiple_of(8) && arena::heap_id_of(addr) == self.sh.heap_id
    }

    /// The id of a node, after checking its address and canary.
    fn obj_id(&self, o: Gc<'_, Obj>) -> Result<u64, String> {
        let addr = o.as_ptr() as usize;
        if !self.plausible(addr) {
            return Err(format!(
                "wild pointer {addr:#x} to a node (not an aligned address of this heap)"
            ));
        }
        let (id, c) = (o.id, o.canary);
        if c != canary(id) {
            let clobbered = if id == u64::from_ne_bytes([0xEF; 8]) {
                " (clobber-free poison: the object was freed)"
            } else {
                " (freed and reused, or corrupted)"
            };
            return Err(format!(
                "node at {addr:#x}: canary {c:#x} does not match its id field {id:#x}{clobbered}"
            ));
        }
        if id == 0 || id >= self.sh.next_id.load(Ordering::Relaxed) {
            return Err(format!(
                "node at {addr:#x} carries id {id}, which was never allocated"
            ));
        }
        Ok(id)
    }

    fn check_payload(&self, owner: u64, p: Gc<'_, Slice<u64>>) -> Result<u32, String> {
        let addr = p.as_ptr() as usize;
        if !self.plausible(addr) {
            return Err(format!("object {owner}: wild payload pointer {addr:#x}"));
        }
        let len = p.len();
        if len > MAX_PAYLOAD {
            return Err(format!(
                "object {owner}: payload at {addr:#x} has length {len:#x} (corrupt header)"
            ));
        }
        if len > 0 {
            let step = (len / 16).max(1);
            let idx = (0..len).step_by(step).chain(std::iter::once(len - 1));
            for i in idx {
                let want = payload_word(owner, len, i);
                if p[i] != want {
                    return Err(format!(
                        "object {owner}: payload at {addr:#x} (len {len}) word {i} is {:#x}, expected {want:#x} (a noscan object freed and reused?)",
                        p[i]
                    ));
                }
            }
        }
        Ok(len as u32)
    }

    /// A tag's id and back edge, after checking it.
    fn check_tag(
        &self,
        m: &Mutator,
        owner: u64,
        t: Gc<'_, Tagged>,
    ) -> Result<(u64, Option<u64>), String> {
        let addr = t.as_ptr() as usize;
        if !self.plausible(addr) {
            return Err(format!("object {owner}: wild tag pointer {addr:#x}"));
        }
        let id = t.id;
        let c = t.canary.load(Ordering::SeqCst);
        if c == POISON {
            return Err(format!(
                "object {owner}: tagged object {id} at {addr:#x} is still reachable but its Drop already ran"
            ));
        }
        if c != tag_canary(id) {
            return Err(format!(
                "object {owner}: tagged object at {addr:#x}: canary {c:#x} does not match its id {id:#x} (freed and reused, or corrupted)"
            ));
        }
        let back = match t.back.get(m) {
            None => None,
            Some(b) => Some(
                self.obj_id(b)
                    .map_err(|e| format!("back edge of tagged object {id}: {e}"))?,
            ),
        };
        Ok((id, back))
    }

    /// Reads a node whole: canary, kids' canaries, payload, tag.
    fn inspect(&self, m: &Mutator, o: Gc<'_, Obj>) -> Result<Seen, String> {
        let id = self.obj_id(o)?;
        let mut kids = [None; KIDS];
        for (k, slot) in o.kids.iter().enumerate() {
            if let Some(c) = slot.get(m) {
                kids[k] = Some(
                    self.obj_id(c)
                        .map_err(|e| format!("kid {k} of object {id}: {e}"))?,
                );
            }
        }
        let payload = match o.payload.get(m) {
            None => None,
            Some(p) => Some(self.check_payload(id, p)?),
        };
        let (tag, tag_back) = match o.tag.get(m) {
            None => (None, None),
            Some(t) => {
                let (t, b) = self.check_tag(m, id, t)?;
                (Some(t), b)
            }
        };
        self.sh.add(C::Verified, 1);
        Ok(Seen {
            id,
            obj: MObj { kids, payload, tag },
            tag_back,
        })
    }

    /// Compares a node read from the heap with the model (under the lock).
    fn compare(&self, model: &Model, s: &Seen) -> Result<(), String> {
        let Some(mo) = model.objs.get(&s.id) else {
            return Err(format!(
                "object {} is reachable in the heap but the model does not know it",
                s.id
            ));
        };
        if *mo != s.obj {
            return Err(format!(
                "object {}: heap {:?} != model {:?}",
                s.id, s.obj, mo
            ));
        }
        if let Some(t) = s.obj.tag {
            let want = model.tags.get(&t).copied();
            if want != Some(s.tag_back) {
                return Err(format!(
                    "tagged object {t} (of object {}): heap back edge {:?} != model {:?}",
                    s.id, s.tag_back, want
                ));
            }
        }
        Ok(())
    }

    /// Checks the two objects every walk starts from: the root array's
    /// length header and the vector's length. A freed one reads as garbage,
    /// and indexing it would crash the oracle instead of reporting.
    fn frame_ok(&self, m: &Mutator) -> Result<(), String> {
        let arr = self.roots.get(m);
        if arr.len() != self.sh.cfg.root_slots {
            return Err(format!(
                "the root array (at {:p}) has length {:#x}, not {} (freed?)",
                arr.as_ptr(),
                arr.len(),
                self.sh.cfg.root_slots
            ));
        }
        let v = self.vector.get(m);
        if v.len() > VEC_MAX {
            return Err(format!(
                "the vector (at {:p}) has length {:#x}, more than its cap {VEC_MAX} (freed?)",
                v.as_ptr(),
                v.len()
            ));
        }
        Ok(())
    }

    fn slot_get<'m>(&self, m: &'m Mutator, model: &Model, s: Slot<'m>) -> Option<Gc<'m, Obj>> {
        match s {
            Slot::Root(i) => self.roots.get(m)[i].get(m),
            Slot::Kid(o, k) => o.kids[k].get(m),
            Slot::Extra(i) => model.extra[i].as_ref().map(|(_, r)| r.get(m)),
            Slot::Vec(i) => self.vector.get(m).get(m, i),
        }
    }

    fn slot_model(model: &Model, s: Slot<'_>) -> Option<Option<u64>> {
        match s {
            Slot::Root(i) => Some(model.roots[i]),
            Slot::Kid(o, k) => model.objs.get(&o.id).map(|mo| mo.kids[k]),
            Slot::Extra(i) => Some(model.extra[i].as_ref().map(|(id, _)| *id)),
            Slot::Vec(i) => model.vec.get(i).copied(),
        }
    }

    /// Stores into a slot and the model together (under the lock).
    fn slot_set(&self, m: &Mutator, model: &mut Model, s: Slot<'_>, v: Option<Gc<'_, Obj>>) {
        let id = v.map(|o| o.id);
        match s {
            Slot::Root(i) => {
                self.roots.get(m)[i].set(m, v);
                model.roots[i] = id;
            }
            Slot::Kid(o, k) => {
                o.kids[k].set(m, v);
                if let Some(mo) = model.objs.get_mut(&o.id) {
                    mo.kids[k] = id;
                }
            }
            Slot::Extra(i) => match (v, model.extra[i].as_mut()) {
                (Some(o), Some((rid, root))) => {
                    root.set(m, o);
                    *rid = o.id;
                }
                (Some(o), None) => model.extra[i] = Some((o.id, m.root(o))),
                (None, _) => model.extra[i] = None,
            },
            Slot::Vec(i) => {
                self.vector.get(m).set(m, i, v);
                model.vec[i] = id;
            }
        }
        self.sh
            .add(if v.is_some() { C::Links } else { C::Unlinks }, 1);
    }

    /// The full verification (module header), under the lock. Returns the
    /// number of reachable objects, or `None` after a failure.
    fn verify(&self, m: &Mutator, model: &mut Model, who: &str) -> Option<usize> {
        let fail = |msg: String| {
            self.fail(who, format!("verification: {msg}"));
            None
        };
        let mut stack: Vec<Gc<'_, Obj>> = Vec::new();
        if let Err(e) = self.frame_ok(m) {
            return fail(e);
        }
        let arr = self.roots.get(m);
        let id_of = |o: Option<Gc<'_, Obj>>| -> Result<Option<u64>, String> {
            o.map(|o| self.obj_id(o)).transpose()
        };
        for (i, s) in arr.iter().enumerate() {
            let h = s.get(m);
            match id_of(h) {
                Err(e) => return fail(format!("root slot {i}: {e}")),
                Ok(hid) if hid != model.roots[i] => {
                    return fail(format!(
                        "root slot {i}: the heap holds {hid:?}, the model says {:?}",
                        model.roots[i]
                    ))
                }
                Ok(_) => stack.extend(h),
            }
        }
        for (i, e) in model.extra.iter().enumerate() {
            if let Some((id, r)) = e {
                let o = r.get(m);
                match self.obj_id(o) {
                    Err(e) => return fail(format!("extra root {i}: {e}")),
                    Ok(h) if h != *id => {
                        return fail(format!(
                            "extra root {i}: the heap holds {h}, the model {id}"
                        ))
                    }
                    Ok(_) => stack.push(o),
                }
            }
        }
        let v = self.vector.get(m);
        if v.len() != model.vec.len() {
            return fail(format!(
                "the vector has length {}, the model {}",
                v.len(),
                model.vec.len()
            ));
        }
        for i in 0..v.len() {
            let h = v.get(m, i);
            match id_of(h) {
                Err(e) => return fail(format!("vector element {i}: {e}")),
                Ok(hid) if hid != model.vec[i] => {
                    return fail(format!(
                        "vector element {i}: the heap holds {hid:?}, the model says {:?}",
                        model.vec[i]
                    ))
                }
                Ok(_) => stack.extend(h),
            }
        }
        let mut visited: HashSet<usize> = HashSet::with_capacity(model.objs.len());
        let mut ids: HashMap<u64, usize> = HashMap::with_capacity(model.objs.len());
        while let Some(o) = stack.pop() {
            let addr = o.as_ptr() as usize;
            if !visited.insert(addr) {
                continue;
            }
            let seen = match self.inspect(m, o) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            if let Some(other) = ids.insert(seen.id, addr) {
                return fail(format!(
                    "two objects carry id {}: at {other:#x} and at {addr:#x}",
                    seen.id
                ));
            }
            if let Err(e) = self.compare(model, &seen) {
                return fail(e);
            }
            stack.extend(o.kids.iter().filter_map(|k| k.get(m)));
            if let Some(b) = o.tag.get(m).and_then(|t| t.back.get(m)) {
                stack.push(b);
            }
        }
        let (reach, _) = model.reach(model.root_ids());
        if reach.len() != ids.len() || reach.iter().any(|id| !ids.contains_key(id)) {
            let missing: Vec<u64> = reach
                .iter()
                .filter(|id| !ids.contains_key(id))
                .take(8)
                .copied()
                .collect();
            let extra: Vec<u64> = ids
                .keys()
                .filter(|id| !reach.contains(id))
                .take(8)
                .copied()
                .collect();
            return fail(format!(
                "the heap reaches {} objects, the model {}; in the model only: {missing:?}; in the heap only: {extra:?}",
                ids.len(),
                reach.len()
            ));
        }
        self.sh.add(C::Verifications, 1);
        self.sh.reachable.store(ids.len(), Ordering::Relaxed);
        self.sh
            .max_reachable
            .fetch_max(ids.len(), Ordering::Relaxed);

        // Weak pointers.
        let seeds = model
            .root_ids()
            .into_iter()
            .chain(model.in_flight.iter().flatten().copied());
        let (alive, _) = model.reach(seeds);
        let done = self.heap.gc_summary().cycles;
        let mut weak_fail = None;
        for e in model.weaks.iter_mut() {
            if alive.contains(&e.id) {
                e.unreachable_since = None;
                match e.weak.upgrade(m) {
                    None => {
                        weak_fail = Some(format!(
                            "a Weak to object {} upgraded to None, but the object is reachable",
                            e.id
                        ));
                        break;
                    }
                    Some(o) => match self.obj_id(o) {
                        Ok(id) if id == e.id => {}
                        Ok(id) => {
                            weak_fail =
                                Some(format!("a Weak to object {} upgraded to object {id}", e.id));
                            break;
                        }
                        Err(err) => {
                            weak_fail =
                                Some(format!("a Weak to object {} upgraded to: {err}", e.id));
                            break;
                        }
                    },
                }
            } else {
                match e.unreachable_since {
                    None => e.unreachable_since = Some(done),
                    // DESIGN §4 promises two cycles; the oracle allows a
                    // third because its clock starts at a verification that
                    // may fall inside a cycle whose snapshot predates it (and
                    // one unexplained CI-like run needed it: see the notes).
                    Some(c) if done >= c + LIVENESS_CYCLES => {
                        if let Some(o) = e.weak.upgrade(m) {
                            let what = match self.obj_id(o) {
                                Ok(id) => format!("object {id}"),
                                Err(err) => err,
                            };
                            weak_fail = Some(format!(
                                "object {} has been unreachable since a verification at which {c} cycles had completed, yet after {done} cycles its Weak still upgrades (to {what}): unreachable objects must be freed within {LIVENESS_CYCLES} cycles",
                                e.id
                            ));
                            break;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(msg) = weak_fail {
            return fail(msg);
        }

        // Prune what nothing can reach any more.
        let seeds = model
            .root_ids()
            .into_iter()
            .chain(model.in_flight.iter().flatten().copied())
            .chain(model.weaks.iter().map(|w| w.id));
        let (keep, keep_tags) = model.reach(seeds);
        model.objs.retain(|id, _| keep.contains(id));
        model.tags.retain(|id, _| keep_tags.contains(id));
        self.sh.model_len.store(model.objs.len(), Ordering::Relaxed);
        Some(ids.len())
    }
}

// ---- a mutator thread -------------------------------------------------------

/// The operations, in the order of [`OP_NAMES`].
#[derive(Clone, Copy)]
enum Op {
    AllocLink,
    Subtree,
    Unlink,
    Move,
    Copy,
    Root,
    WeakTake,
    WeakUpgrade,
    Payload,
    Tag,
    Vec,
    Garbage,
    Read,
}

const _: () = assert!(OP_NAMES.len() == Op::Read as usize + 1);

/// Names of the operations, for [`StressConfig::disabled_ops`].
pub const OP_NAMES: &[&str] = &[
    "alloc_link",
    "subtree",
    "unlink",
    "move",
    "copy",
    "root",
    "weak_take",
    "weak_upgrade",
    "payload",
    "tag",
    "vec",
    "garbage",
    "read",
];

struct Worker<'a> {
    cx: Ctx<'a>,
    t: usize,
    name: String,
    rng: Rng,
    /// Bit `op` set: the operation is disabled.
    disabled: u32,
}

type Tag = Option<(u64, Option<u64>)>;

impl<'a> Worker<'a> {
    fn fail(&self, msg: String) {
        self.cx.fail(&self.name, msg);
    }

    fn stopped(&self) -> bool {
        self.cx.sh.stop.load(Ordering::Relaxed)
    }

    /// Takes the model lock, half the time inside `blocking`.
    fn lock(&mut self, m: &mut Mutator) -> MutexGuard<'a, Model> {
        let sh = self.cx.sh;
        if self.rng.chance(1, 2) {
            m.blocking(|| lock_model(&sh.model))
        } else {
            lock_model(&sh.model)
        }
    }

    fn run(mut self, mut m: Mutator) {
        let sh = self.cx.sh;
        let mut ops = 0u64;
        let mut until_safepoint = 1 + self.rng.below(8);
        while !self.stopped() {
            if sh.cfg.ops_per_thread.is_some_and(|n| ops >= n) {
                break;
            }
            self.step(&mut m);
            ops += 1;
            sh.add(C::Ops, 1);
            until_safepoint -= 1;
            if until_safepoint == 0 {
                m.safepoint();
                until_safepoint = 1 + self.rng.below(8);
            }
            if self.rng.chance(1, 512) {
                let d = Duration::from_micros(self.rng.below(200) as u64);
                m.blocking(|| {
                    if d.is_zero() {
                        std::thread::yield_now()
                    } else {
                        std::thread::sleep(d)
                    }
                });
            }
            if self.t == 0
                && sh.cfg.forced_collect_every > 0
                && ops.is_multiple_of(sh.cfg.forced_collect_every)
            {
                m.collect();
            }
            if self.verify_due() {
                let mut g = self.lock(&mut m);
                self.cx.verify(&m, &mut g, &self.name);
            }
        }
    }

    /// Whether this thread should verify now: every `verify_every`, and
    /// sooner (every [`PRUNE_EVERY_MS`]) while the model map is full, since a
    /// verification also prunes it.
    fn verify_due(&self) -> bool {
        let sh = self.cx.sh;
        let now = sh.start.elapsed().as_millis() as u64;
        let last = sh.last_verify_ms.load(Ordering::Relaxed);
        let full = sh.model_len.load(Ordering::Relaxed) >= sh.budget;
        let wait = if full {
            PRUNE_EVERY_MS
        } else {
            sh.cfg.verify_every.as_millis() as u64
        };
        now >= last + wait
            && sh
                .last_verify_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn step(&mut self, m: &mut Mutator) {
        // Hold the graph between half and three quarters of the budget:
        // below, unlinks become allocations; above (or with the model map
        // full until the next prune), allocations become unlinks.
        let sh = self.cx.sh;
        let reachable = sh.reachable.load(Ordering::Relaxed);
        let full = sh.model_len.load(Ordering::Relaxed) >= sh.budget;
        let shrink = full || reachable >= sh.budget / 4 * 3;
        let grow = !shrink && reachable < sh.budget / 2;
        let op = match self.rng.below(100) {
            0..=21 if !shrink => Op::AllocLink,
            22..=31 if !shrink => Op::Subtree,
            32..=37 if grow => Op::AllocLink,
            0..=37 => Op::Unlink,
            38..=49 => Op::Move,
            50..=55 => Op::Copy,
            56..=60 => Op::Root,
            61..=65 => Op::WeakTake,
            66..=71 => Op::WeakUpgrade,
            72..=75 => Op::Payload,
            76..=80 => Op::Tag,
            81..=85 => Op::Vec,
            86..=91 => Op::Garbage,
            _ => Op::Read,
        };
        if self.disabled & (1 << op as u32) != 0 {
            return;
        }
        match op {
            Op::AllocLink => self.op_alloc_link(m),
            Op::Subtree => self.op_subtree(m),
            Op::Unlink => self.op_unlink(m),
            Op::Move => self.op_move(m),
            Op::Copy => self.op_copy(m),
            Op::Root => self.op_root(m),
            Op::WeakTake => self.op_weak_take(m),
            Op::WeakUpgrade => self.op_weak_upgrade(m),
            Op::Payload => self.op_payload(m),
            Op::Tag => self.op_tag(m),
            Op::Vec => self.op_vec(m),
            Op::Garbage => self.op_garbage(m),
            Op::Read => self.op_read(m),
        }
    }

    // ---- allocation helpers ----

    fn new_payload<'m>(&mut self, m: &'m Mutator, owner: u64) -> (Gc<'m, Slice<u64>>, u32) {
        let len = match self.rng.below(1000) {
            0..=149 => 0,
            150..=649 => 1 + self.rng.below(16),
            650..=996 => 16 + self.rng.below(500),
            _ => LARGE_PAYLOAD + self.rng.below(1000),
        };
        self.cx.sh.add(C::Allocated, 1);
        (
            m.alloc_slice(len, |i| payload_word(owner, len, i)),
            len as u32,
        )
    }

    fn new_tag<'m>(&mut self, m: &'m Mutator, back: Option<Gc<'_, Obj>>) -> (Gc<'m, Tagged>, u64) {
        let sh = self.cx.sh;
        let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
        let t = m.alloc(Tagged {
            id,
            canary: AtomicU64::new(tag_canary(id)),
            back: Member::null(),
            ledger: LedgerRef(sh.ledger.clone()),
        });
        t.back.set(m, back);
        sh.add(C::Allocated, 1);
        sh.add(C::Droppable, 1);
        (t, id)
    }

    /// A fresh leaf node, maybe with a payload and a tag (whose back edge
    /// may point at the node itself).
    fn new_obj<'m>(&mut self, m: &'m Mutator) -> (Gc<'m, Obj>, MObj, Tag) {
        let id = self.cx.sh.next_id.fetch_add(1, Ordering::Relaxed);
        let o = m.alloc(Obj {
            id,
            canary: canary(id),
            kids: [Member::null(), Member::null(), Member::null()],
            payload: Member::null(),
            tag: Member::null(),
        });
        self.cx.sh.add(C::Allocated, 1);
        let mut mo = MObj {
            kids: [None; KIDS],
            payload: None,
            tag: None,
        };
        if self.rng.chance(1, 3) {
            let (p, len) = self.new_payload(m, id);
            o.payload.set(m, Some(p));
            mo.payload = Some(len);
        }
        let mut tag = None;
        if self.rng.chance(1, 8) {
            let back = self.rng.chance(1, 2).then_some(o);
            let (t, tid) = self.new_tag(m, back);
            o.tag.set(m, Some(t));
            mo.tag = Some(tid);
            tag = Some((tid, back.map(|_| id)));
        }
        (o, mo, tag)
    }

    /// Allocates `n` garbage nodes (a chain), checking `held` in between.
    fn churn(&mut self, m: &Mutator, n: usize, held: Option<Gc<'_, Obj>>) {
        let mut prev: Option<Gc<'_, Obj>> = None;
        for i in 0..n {
            let (o, _, _) = self.new_obj(m);
            if let Some(p) = prev {
                p.kids[i % KIDS].set(m, Some(o));
            }
            prev = Some(o);
            if let Some(h) = held {
                if i % 8 == 0 {
                    if let Err(e) = self.cx.inspect(m, h) {
                        self.fail(format!("an object held on the stack, unlinked: {e}"));
                        return;
                    }
                }
            }
        }
    }

    // ---- walks under the lock ----

    fn start_slot<'m>(&mut self, model: &Model) -> Slot<'m> {
        match self.rng.below(100) {
            0..=69 => Slot::Root(self.rng.below(model.roots.len())),
            70..=84 => Slot::Extra(self.rng.below(model.extra.len())),
            _ if !model.vec.is_empty() => Slot::Vec(self.rng.below(model.vec.len())),
            _ => Slot::Root(self.rng.below(model.roots.len())),
        }
    }

    /// Reads a slot and checks it (and its object) against the model.
    fn read_slot<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
        s: Slot<'m>,
    ) -> Option<Option<Gc<'m, Obj>>> {
        let h = self.cx.slot_get(m, model, s);
        let hid = match h.map(|o| self.cx.obj_id(o)).transpose() {
            Ok(id) => id,
            Err(e) => {
                self.fail(format!("{s}: {e}"));
                return None;
            }
        };
        let Some(mid) = Ctx::slot_model(model, s) else {
            self.fail(format!("{s}: the model does not know the holder"));
            return None;
        };
        if hid != mid {
            self.fail(format!(
                "{s}: the heap holds {hid:?}, the model says {mid:?}"
            ));
            return None;
        }
        if let Some(o) = h {
            let checked = self
                .cx
                .inspect(m, o)
                .and_then(|seen| self.cx.compare(model, &seen));
            if let Err(e) = checked {
                self.fail(format!("via {s}: {e}"));
                return None;
            }
        }
        Some(h)
    }

    /// A random walk from a root: a slot and what it holds.
    fn pick_slot<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
    ) -> Option<(Slot<'m>, Option<Gc<'m, Obj>>)> {
        self.walk(m, model, 3)
    }

    /// A random walk from a root that stops at each object with
    /// probability `1/stop`: a slot and what it holds.
    fn walk<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
        stop: usize,
    ) -> Option<(Slot<'m>, Option<Gc<'m, Obj>>)> {
        if let Err(e) = self.cx.frame_ok(m) {
            self.fail(e);
            return None;
        }
        let mut s = self.start_slot(model);
        for _ in 0..MAX_DEPTH {
            match self.read_slot(m, model, s)? {
                Some(o) if !self.rng.chance(1, stop) => s = Slot::Kid(o, self.rng.below(KIDS)),
                cur => return Some((s, cur)),
            }
        }
        let cur = self.read_slot(m, model, s)?;
        Some((s, cur))
    }

    /// A slot that holds an object, if one is found in a few walks; `stop`
    /// as in [`Worker::walk`] (a deeper walk cuts a smaller subgraph).
    fn pick_full<'m>(
        &mut self,
        m: &'m Mutator,
        model: &Model,
        stop: usize,
    ) -> Option<(Slot<'m>, Gc<'m, Obj>)> {
        for _ in 0..6 {
            if let (s, Some(o)) = self.walk(m, model, stop)? {
                return Some((s, o));
            }
        }
        None
    }

    /// A reachable object, if one is found in a few walks.
    fn pick_obj<'m>(&mut self, m: &'m Mutator, model: &Model) -> Option<Gc<'m, Obj>> {
        for _ in 0..4 {
            match self.pick_slot(m, model)? {
                (_, Some(o)) | (Slot::Kid(o, _), None) => return Some(o),
                _ => {}
            }
        }
        None
    }

    // ---- operations ----

    fn op_alloc_link(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        let Some((s, old)) = self.pick_slot(m, &g) else {
            return;
        };
        let (o, mut mo, tag) = self.new_obj(m);
        if let Some(old) = old.filter(|_| !self.rng.chance(1, 8)) {
            // Splice the new node above the old target.
            o.kids[0].set(m, Some(old));
            mo.kids[0] = Some(old.id);
        }
        for k in 1..KIDS {
            if self.rng.chance(1, 5) {
                if let Some(x) = self.pick_obj(m, &g) {
                    o.kids[k].set(m, Some(x));
                    mo.kids[k] = Some(x.id);
                }
            }
        }
        g.insert(o.id, mo, tag);
        self.cx.sh.model_len.store(g.objs.len(), Ordering::Relaxed);
        self.cx.slot_set(m, &mut g, s, Some(o));
    }

    fn op_subtree(&mut self, m: &mut Mutator) {
        let m = &*m;
        let n = 1 + self.rng.below(MAX_SUBTREE as usize);
        let mut nodes: Vec<(Gc<'_, Obj>, MObj, Tag)> = Vec::with_capacity(n);
        for i in 0..n {
            let (o, mo, tag) = self.new_obj(m);
            if i > 0 {
                let p = self.rng.below(i);
                let k = self.rng.below(KIDS);
                nodes[p].0.kids[k].set(m, Some(o));
                nodes[p].1.kids[k] = Some(o.id);
            }
            nodes.push((o, mo, tag));
            if self.rng.chance(1, 4) {
                let k = 1 + self.rng.below(4);
                self.churn(m, k, None);
            }
        }
        if n > 2 && self.rng.chance(1, 4) {
            // A back edge: a cycle inside the subtree.
            let (a, b) = (self.rng.below(n), self.rng.below(n));
            let k = self.rng.below(KIDS);
            nodes[a].0.kids[k].set(m, Some(nodes[b].0));
            nodes[a].1.kids[k] = Some(nodes[b].0.id);
        }
        // Attached, with the subtree only on this stack.
        let mut g = lock_model(&self.cx.sh.model);
        for (o, mo, tag) in &nodes {
            g.insert(o.id, *mo, *tag);
        }
        self.cx.sh.model_len.store(g.objs.len(), Ordering::Relaxed);
        for (o, _, _) in &nodes {
            if let Err(e) = self.cx.inspect(m, *o) {
                self.fail(format!("a private subtree node: {e}"));
                return;
            }
        }
        let Some((s, old)) = self.pick_slot(m, &g) else {
            return;
        };
        let root = nodes[0].0;
        if let Some(old) = old {
            // Keep the old target under the subtree's root if it has room.
            if let Some(k) = (0..KIDS).find(|&k| root.kids[k].is_null()) {
                root.kids[k].set(m, Some(old));
                g.objs.get_mut(&root.id).expect("just inserted").kids[k] = Some(old.id);
            }
        }
        self.cx.slot_set(m, &mut g, s, Some(root));
    }

    fn op_unlink(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        if let Some((s, _)) = self.pick_full(m, &g, 12) {
            self.cx.slot_set(m, &mut g, s, None);
        }
    }

    fn op_move(&mut self, m: &mut Mutator) {
        let sh = self.cx.sh;
        let mut g = self.lock(m);
        let m = &*m;
        let Some((src, o)) = self.pick_full(m, &g, 4) else {
            return;
        };
        let id = o.id;
        self.cx.slot_set(m, &mut g, src, None);
        sh.add(C::Moves, 1);
        if self.rng.chance(1, 2) {
            // The object lives only on this stack while others run.
            g.in_flight[self.t].push(id);
            drop(g);
            let n = self.rng.below(48);
            self.churn(m, n, Some(o));
            if self.rng.chance(1, 4) {
                std::thread::yield_now();
            }
            g = lock_model(&sh.model);
            let f = &mut g.in_flight[self.t];
            if let Some(i) = f.iter().position(|&x| x == id) {
                f.swap_remove(i);
            }
        } else {
            let n = self.rng.below(8);
            self.churn(m, n, Some(o));
        }
        let checked = self.cx.inspect(m, o).and_then(|s| self.cx.compare(&g, &s));
        if let Err(e) = checked {
            self.fail(format!("an object moved through the stack: {e}"));
            return;
        }
        if let Some((dst, _)) = self.pick_slot(m, &g) {
            self.cx.slot_set(m, &mut g, dst, Some(o));
        }
    }

    fn op_copy(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        let Some((_, o)) = self.pick_full(m, &g, 3) else {
            return;
        };
        if let Some((dst, _)) = self.pick_slot(m, &g) {
            self.cx.slot_set(m, &mut g, dst, Some(o));
        }
    }

    fn op_root(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        let i = self.rng.below(g.extra.len());
        if self.rng.chance(1, 2) {
            if let Some(o) = self.pick_obj(m, &g) {
                self.cx.slot_set(m, &mut g, Slot::Extra(i), Some(o));
            }
        } else if g.extra[i].is_some() {
            self.cx.slot_set(m, &mut g, Slot::Extra(i), None);
        }
    }

    fn op_weak_take(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        let Some(o) = self.pick_obj(m, &g) else {
            return;
        };
        g.add_weak(m, o, &mut self.rng);
    }

    fn op_weak_upgrade(&mut self, m: &mut Mutator) {
        let sh = self.cx.sh;
        let mut g = self.lock(m);
        let m = &*m;
        if g.weaks.is_empty() {
            return;
        }
        let i = self.rng.below(g.weaks.len());
        let want = g.weaks[i].id;
        match g.weaks[i].weak.upgrade(m) {
            Some(o) => {
                sh.add(C::WeakOk, 1);
                // The upgrade shaded the target (if a cycle is marking):
                // restart the clock of every entry for it (one handle per
                // object, possibly in several entries).
                for e in g.weaks.iter_mut().filter(|e| e.id == want) {
                    e.unreachable_since = None;
                }
                match self.cx.obj_id(o) {
                    Ok(id) if id == want => {}
                    Ok(id) => {
                        return self
                            .fail(format!("a Weak to object {want} upgraded to object {id}"))
                    }
                    Err(e) => {
                        return self.fail(format!("a Weak to object {want} upgraded to: {e}"))
                    }
                }
                // Its model entry is pinned by the weak, so the whole
                // subgraph can be checked and, sometimes, linked back.
                let checked = self.cx.inspect(m, o).and_then(|s| self.cx.compare(&g, &s));
                if let Err(e) = checked {
                    return self.fail(format!("object {want} from a Weak upgrade: {e}"));
                }
                if self.rng.chance(1, 3) {
                    if let Some((dst, _)) = self.pick_slot(m, &g) {
                        self.cx.slot_set(m, &mut g, dst, Some(o));
                        sh.add(C::Resurrections, 1);
                    }
                }
            }
            None => {
                sh.add(C::WeakCleared, 1);
                if self.rng.chance(1, 2) {
                    g.weaks.swap_remove(i);
                }
            }
        }
    }

    fn op_payload(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        let Some(o) = self.pick_obj(m, &g) else {
            return;
        };
        let len = if self.rng.chance(1, 4) {
            o.payload.set(m, None);
            None
        } else {
            let (p, len) = self.new_payload(m, o.id);
            o.payload.set(m, Some(p));
            Some(len)
        };
        if let Some(mo) = g.objs.get_mut(&o.id) {
            mo.payload = len;
        }
    }

    fn op_tag(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        let Some(o) = self.pick_obj(m, &g) else {
            return;
        };
        let id = o.id;
        match self.rng.below(4) {
            0 => {
                let back = if self.rng.chance(1, 2) {
                    self.pick_obj(m, &g)
                } else {
                    None
                };
                let (t, tid) = self.new_tag(m, back);
                o.tag.set(m, Some(t));
                g.tags.insert(tid, back.map(|b| b.id));
                g.objs.get_mut(&id).expect("checked node").tag = Some(tid);
            }
            1 => {
                o.tag.set(m, None);
                g.objs.get_mut(&id).expect("checked node").tag = None;
            }
            2 => {
                // Share another node's tag.
                let Some(p) = self.pick_obj(m, &g) else {
                    return;
                };
                let t = p.tag.get(m);
                o.tag.set(m, t);
                let tid = g.objs.get(&p.id).expect("checked node").tag;
                g.objs.get_mut(&id).expect("checked node").tag = tid;
            }
            _ => {
                let Some(t) = o.tag.get(m) else { return };
                let back = self.pick_obj(m, &g);
                t.back.set(m, back);
                let tid = g.objs.get(&id).expect("checked node").tag.expect("tagged");
                g.tags.insert(tid, back.map(|b| b.id));
            }
        }
    }

    fn op_vec(&mut self, m: &mut Mutator) {
        let mut g = self.lock(m);
        let m = &*m;
        if let Err(e) = self.cx.frame_ok(m) {
            return self.fail(e);
        }
        let v = self.cx.vector.get(m);
        let r = self.rng.below(3);
        if (r == 0 && g.vec.len() < VEC_MAX) || g.vec.is_empty() {
            let o = self.pick_obj(m, &g).filter(|_| self.rng.chance(7, 8));
            v.push(m, o);
            g.vec.push(o.map(|o| o.id));
            self.cx
                .sh
                .add(if o.is_some() { C::Links } else { C::Unlinks }, 1);
        } else if r == 1 || g.vec.len() >= VEC_MAX {
            let got = v.pop(m).map(|o| self.cx.obj_id(o)).transpose();
            let want = g.vec.pop().flatten();
            match got {
                Ok(id) if id == want => self.cx.sh.add(C::Unlinks, 1),
                Ok(id) => self.fail(format!(
                    "Vector::pop returned {id:?}, the model says {want:?}"
                )),
                Err(e) => self.fail(format!("Vector::pop: {e}")),
            }
        } else {
            let i = self.rng.below(g.vec.len());
            let o = self.pick_obj(m, &g).filter(|_| self.rng.chance(3, 4));
            self.cx.slot_set(m, &mut g, Slot::Vec(i), o);
        }
    }

    fn op_garbage(&mut self, m: &mut Mutator) {
        let m = &*m;
        let n = 1 + self.rng.below(32);
        self.churn(m, n, None);
        if self.rng.chance(1, 4) {
            // A Weak to an object that was never reachable: it must clear.
            let (o, mo, tag) = self.new_obj(m);
            let mut g = lock_model(&self.cx.sh.model);
            g.insert(o.id, mo, tag);
            g.add_weak(m, o, &mut self.rng);
        }
    }

    /// Reads a random path without the lock, while others rewire it.
    fn op_read(&mut self, m: &mut Mutator) {
        let m = &*m;
        if let Err(e) = self.cx.frame_ok(m) {
            return self.fail(format!("lock-free read: {e}"));
        }
        let mut cur = if self.rng.chance(1, 8) {
            let v = self.cx.vector.get(m);
            let len = v.len();
            if len == 0 {
                return;
            }
            v.get(m, self.rng.below(len))
        } else {
            let arr = self.cx.roots.get(m);
            arr[self.rng.below(arr.len())].get(m)
        };
        for _ in 0..READ_DEPTH {
            let Some(o) = cur else { return };
            if let Err(e) = self.cx.inspect(m, o) {
                return self.fail(format!("lock-free read: {e}"));
            }
            cur = if self.rng.chance(1, 6) {
                o.tag.get(m).and_then(|t| t.back.get(m))
            } else {
                o.kids[self.rng.below(KIDS)].get(m)
            };
        }
    }
}

// ---- the run --------------------------------------------------------------------

/// Runs the oracle (module header) and returns what it found.
pub fn run(cfg: &StressConfig) -> StressReport {
    run_with_progress(cfg, &|_| {})
}

/// Live objects from the per-class counts (the tiny allocator's
/// sub-allocations left out: they are freed with their block).
fn class_objects(s: &MemStats) -> u64 {
    s.by_size
        .iter()
        .map(|c| c.mallocs.saturating_sub(c.frees))
        .sum()
}

/// [`run`], calling `on_progress` with the figures so far every
/// `cfg.progress_every`.
///
/// # Panics
/// If `cfg.threads` or `cfg.root_slots` is 0.
pub fn run_with_progress(
    cfg: &StressConfig,
    on_progress: &(dyn Fn(&StressReport) + Sync),
) -> StressReport {
    assert!(cfg.threads > 0, "stress: at least one thread");
    assert!(cfg.root_slots > 0, "stress: at least one root slot");
    let mut disabled = 0u32;
    for name in &cfg.disabled_ops {
        let Some(i) = OP_NAMES.iter().position(|n| n == name) else {
            panic!("stress: unknown operation {name:?}; the operations are {OP_NAMES:?}")
        };
        disabled |= 1 << i;
    }
    let heap = Heap::new(
        Config::default()
            .gc_percent(cfg.gc_percent)
            .gctrace(cfg.gctrace)
            .checkmark(cfg.checkmark)
            .clobber_free(cfg.clobber_free),
    );
    let baseline = heap.stats();
    let extra = EXTRA_ROOTS_PER_THREAD * cfg.threads;
    let sh = Shared {
        cfg: cfg.clone(),
        model: Mutex::new(Model {
            objs: HashMap::new(),
            tags: HashMap::new(),
            roots: vec![None; cfg.root_slots],
            extra: (0..extra).map(|_| None).collect(),
            vec: Vec::new(),
            in_flight: vec![Vec::new(); cfg.threads],
            weaks: Vec::new(),
        }),
        model_len: AtomicUsize::new(0),
        reachable: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
        ledger: Arc::new(Ledger::default()),
        stop: AtomicBool::new(false),
        finished: AtomicUsize::new(0),
        counters: Default::default(),
        max_reachable: AtomicUsize::new(0),
        failures: Mutex::new(Vec::new()),
        failure_count: AtomicU64::new(0),
        start: Instant::now(),
        last_verify_ms: AtomicU64::new(0),
        budget: cfg.threads * cfg.objects_per_thread,
        heap_id: heap.inner().mheap.id,
    };
    let (roots, vector) = {
        let m = heap.attach();
        let arr = m.alloc_slice(cfg.root_slots, |_| Member::<Obj>::null());
        let v = m.alloc(Vector::<Obj>::new());
        (m.root(arr), m.root(v))
    };
    let cx = Ctx {
        sh: &sh,
        heap: &heap,
        roots: &roots,
        vector: &vector,
    };

    std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let heap = heap.clone();
                std::thread::Builder::new()
                    .name(format!("stress-{t}"))
                    .spawn_scoped(s, move || {
                        struct Done<'a>(&'a Shared);
                        impl Drop for Done<'_> {
                            fn drop(&mut self) {
                                self.0.finished.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        let _done = Done(cx.sh);
                        let w = Worker {
                            cx,
                            t,
                            name: format!("thread {t}"),
                            rng: Rng::new(cfg.seed ^ mix64(t as u64 + 1)),
                            disabled,
                        };
                        w.run(heap.attach());
                    })
                    .expect("stress: cannot spawn a thread")
            })
            .collect();
        let deadline = sh.start + cfg.duration;
        let mut next_progress = sh.start + cfg.progress_every;
        while sh.finished.load(Ordering::SeqCst) < cfg.threads
            && !sh.stop.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
            if Instant::now() >= next_progress {
                on_progress(&sh.report(Some(&heap)));
                next_progress += cfg.progress_every;
            }
        }
        sh.stop.store(true, Ordering::SeqCst);
        for (t, h) in handles.into_iter().enumerate() {
            if let Err(p) = h.join() {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string panic)".into());
                cx.fail(&format!("thread {t}"), format!("panicked: {msg}"));
            }
        }
    });

    let mut notes = Vec::new();
    if sh.failure_count.load(Ordering::SeqCst) > 0 {
        // The heap is corrupt: running the Drops of its objects (at
        // teardown) could crash and lose the report. Leak it instead: the
        // heap handles, the graph's roots, and the model's Roots and Weaks.
        let mut g = lock_model(&sh.model);
        std::mem::forget(std::mem::take(&mut g.extra));
        std::mem::forget(std::mem::take(&mut g.weaks));
        drop(g);
        std::mem::forget(roots);
        std::mem::forget(vector);
        let mut report = sh.report(Some(&heap));
        std::mem::forget(heap);
        report.notes.push(
            "the run failed: the heap was leaked, not torn down, and the teardown checks were skipped"
                .into(),
        );
        return report;
    }

    // Final verification, then drop the graph.
    let mut m = heap.attach();
    {
        let mut g = lock_model(&sh.model);
        cx.verify(&m, &mut g, "final");
        let arr = roots.get(&m);
        for (i, s) in arr.iter().enumerate() {
            s.set(&m, None);
            g.roots[i] = None;
        }
        let v = vector.get(&m);
        while !v.is_empty() {
            v.pop(&m);
        }
        g.vec.clear();
        g.extra.clear();
        g.weaks.clear();
        g.objs.clear();
        g.tags.clear();
        g.in_flight.iter_mut().for_each(Vec::clear);
    }
    drop(roots);
    drop(vector);
    m.collect();
    m.collect();
    let after = heap.stats();
    let mut report = sh.report(Some(&heap));
    let objects_left = class_objects(&after) as i64 - class_objects(&baseline) as i64;
    let bytes_left = after.heap_alloc as i64 - baseline.heap_alloc as i64;
    report.objects_left = objects_left;
    report.bytes_left = bytes_left;
    let fail = |msg: String| sh.record(format!("[teardown] {msg}"));
    if objects_left > OBJECT_TOLERANCE as i64 || bytes_left > BYTES_TOLERANCE as i64 {
        fail(format!(
            "after the graph was dropped and two collect()s ran, {objects_left} objects ({bytes_left} bytes) are still allocated (baseline {} objects, {} bytes); per class (size, mallocs, frees): {:?}",
            class_objects(&baseline),
            baseline.heap_alloc,
            after
                .by_size
                .iter()
                .filter(|c| c.mallocs != c.frees)
                .map(|c| (c.size, c.mallocs, c.frees))
                .collect::<Vec<_>>()
        ));
    }
    let raw = after.heap_objects as i64 - baseline.heap_objects as i64;
    if raw != objects_left {
        notes.push(format!(
            "MemStats.HeapObjects is {raw} above its baseline where the per-class counts say {objects_left}: it counts the tiny allocator's sub-allocations in Mallocs ({} of them) but never in Frees (Go counts them in both)",
            after.mallocs - after.by_size.iter().map(|c| c.mallocs).sum::<u64>()
        ));
    }
    let droppable = sh.get(C::Droppable);
    let drops = sh.ledger.drops.load(Ordering::SeqCst);
    if drops != droppable {
        fail(format!(
            "after two collect()s with nothing reachable, {drops} of {droppable} droppable objects were dropped"
        ));
    }
    drop(m);
    drop(heap);
    let drops = sh.ledger.drops.load(Ordering::SeqCst);
    if drops != droppable {
        fail(format!(
            "after the heap was dropped, {drops} drops ran for {droppable} droppable objects"
        ));
    }
    let bad = sh.ledger.bad.load(Ordering::SeqCst);
    if bad > 0 {
        let first = sh
            .ledger
            .first_bad
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        fail(format!("{bad} bad drops; the first: {first}"));
    }
    report.drops = drops;
    report.notes = notes;
    report.elapsed = sh.start.elapsed();
    report.failures = sh
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    report.failure_count = sh.failure_count.load(Ordering::SeqCst);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_uniform_enough() {
        let mut r = Rng::new(7);
        let mut hist = [0usize; 10];
        for _ in 0..100_000 {
            hist[r.below(10)] += 1;
        }
        for h in hist {
            assert!((9_000..11_000).contains(&h), "{hist:?}");
        }
    }

    #[test]
    fn canaries_differ() {
        assert_ne!(canary(1), tag_canary(1));
        assert_ne!(canary(1), canary(2));
        assert_ne!(
            canary(u64::from_ne_bytes([0xEF; 8])),
            u64::from_ne_bytes([0xEF; 8])
        );
    }

    #[test]
    fn a_short_run_is_clean() {
        let r = run(&StressConfig {
            threads: 2,
            duration: Duration::from_millis(1500),
            verify_every: Duration::from_millis(50),
            forced_collect_every: 500,
            ..StressConfig::default()
        });
        assert!(r.ok(), "{r}");
        assert!(r.verifications > 0 && r.allocated > 0, "{r}");
    }
}
