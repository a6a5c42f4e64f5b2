//! Pacing and memory on a real heap: GOGC keeps the heap near 2× live,
//! GOMEMLIMIT keeps mapped memory near the limit, the CPU limiter stops a
//! heap that cannot fit from spinning, free_os_memory returns memory, the
//! knobs return their previous values, and the hard limit fails cleanly.

use gomem::rss_bytes;
use gomem::{Config, Gc, Heap, Member, Mutator, Trace};

const MIB: usize = 1 << 20;

/// These tests measure memory and CPU shares: run them one at a time so
/// they do not skew each other's figures.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Trace)]
struct Blob {
    next: Member<Blob>,
    data: [u64; 30], // 248 B → 256 B class
}

fn blob(m: &Mutator) -> Gc<'_, Blob> {
    m.alloc(Blob {
        next: Member::null(),
        data: [7; 30],
    })
}

/// A node that can hang in a chain.
trait Chained: Trace + Send + Sized + 'static {
    /// A fresh node, unlinked.
    fn alloc_in(m: &Mutator) -> Gc<'_, Self>;
    /// The link to the next node.
    fn next(&self) -> &Member<Self>;
}

impl Chained for Blob {
    fn alloc_in(m: &Mutator) -> Gc<'_, Blob> {
        blob(m)
    }
    fn next(&self) -> &Member<Blob> {
        &self.next
    }
}

#[derive(Trace)]
struct Link {
    next: Member<Link>,
    side: Member<Link>,
}

impl Chained for Link {
    fn alloc_in(m: &Mutator) -> Gc<'_, Link> {
        m.alloc(Link {
            next: Member::null(),
            side: Member::null(),
        })
    }
    fn next(&self) -> &Member<Link> {
        &self.next
    }
}

/// A rooted structure of about `bytes` bytes of `N` nodes: 256 chains
/// hanging off one array (wide, so marking it can use every worker, as most
/// heaps can).
fn retain_chains<N: Chained>(
    m: &mut Mutator,
    bytes: usize,
) -> gomem::Root<gomem::Slice<Member<N>>> {
    const CHAINS: usize = 256;
    let root = {
        let arr = m.alloc_slice(CHAINS, |_| Member::<N>::null());
        m.root(arr)
    };
    let per_chain = bytes / std::mem::size_of::<N>().next_power_of_two() / CHAINS;
    for c in 0..CHAINS {
        {
            let arr = root.get(m);
            for _ in 0..per_chain {
                let node = N::alloc_in(m);
                node.next().set(m, arr[c].get(m));
                arr[c].set(m, Some(node));
            }
        }
        m.safepoint();
    }
    root
}

/// About `bytes` of 256-byte blobs (one pointer each: cheap to mark).
fn retain(m: &mut Mutator, bytes: usize) -> gomem::Root<gomem::Slice<Member<Blob>>> {
    retain_chains::<Blob>(m, bytes)
}

fn count(m: &Mutator, root: &gomem::Root<gomem::Slice<Member<Blob>>>) -> usize {
    let mut n = 0;
    for head in root.get(m).iter() {
        let mut cur = head.get(m);
        while let Some(b) = cur {
            assert_eq!(b.data[3], 7);
            n += 1;
            cur = b.next.get(m);
        }
    }
    n
}

/// Allocates `bytes` of garbage in small steps with safepoints, doing a
/// little work with each object as a program would (a tight loop of bare
/// allocations outruns any collector that may not stop the mutator).
fn churn(m: &mut Mutator, bytes: usize) {
    let mut sum = 0u64;
    for _ in 0..bytes / (256 * 1000) {
        for i in 0..1000u64 {
            let b = blob(m);
            for round in 0..4u64 {
                for (j, w) in b.data.iter().enumerate() {
                    sum = sum.wrapping_mul(31).wrapping_add(*w ^ i ^ j as u64 ^ round);
                }
            }
        }
        m.safepoint();
    }
    std::hint::black_box(sum);
}

/// GOGC=100 aims the heap at twice the live heap a cycle leaves — what it
/// marked plus what it allocated black before the heap reached its goal
/// (Go counts black bytes as marked; `gc/pacer.rs`) — and the heap never
/// runs away from it. The black bytes grow with the mark phase's length
/// (a loaded machine stretches it) but are at most the cycle's heap
/// distance from trigger to goal, so every steady-state goal is between
/// 2 × and 3 × the retained bytes. How far the heap overshoots
/// its goal while a cycle marks depends on how much CPU the collector gets
/// (a loaded machine stretches the mark phase): that figure is a benchmark's
/// (`gomem-bench binary-trees` reports peak RSS beside Go's), so here it is
/// only bounded against a runaway: 16 × live, where a heap that never
/// collected would reach 32 × (quiet machine: 2.04–2.08 ×; with five other
/// builds competing for two cores, 4.7–6.5 × and once 9.4 × were seen — the
/// assists are forgiven when the global queue has no grey work, so a starved
/// collector lets the mutator run ahead: a pacing weakness, issue 14's).
#[test]
fn gogc_100_aims_the_heap_at_twice_live_and_never_runs_away() {
    let _serial = serial();
    let heap = Heap::new(Config::default().gctrace(std::env::var_os("GOMEM_TEST_TRACE").is_some()));
    let mut m = heap.attach();
    let live = 32 * MIB;
    let _keep = retain(&mut m, live);
    churn(&mut m, 256 * MIB);
    let first_steady = heap.gc_summary().cycles;
    // Steady state: sample the heap (Go's HeapAlloc: bytes of allocated
    // objects, unswept garbage included) as the program runs.
    let mut peak = 0u64;
    for _ in 0..3 {
        for _ in 0..256 {
            churn(&mut m, 1 << 20);
            peak = peak.max(heap.stats().heap_alloc);
        }
    }
    let marked = heap.live_bytes();
    assert!(heap.gc_summary().cycles > 10, "{:?}", heap.gc_summary());
    let steady: Vec<_> = heap
        .cycle_history()
        .into_iter()
        .filter(|r| r.n > first_steady)
        .collect();
    assert!(steady.len() > 5, "{} steady cycles", steady.len());
    for r in &steady {
        assert!(
            r.goal as f64 <= 3.0 * live as f64 && r.goal >= 2 * live,
            "cycle {}: goal {} MiB for {} MiB live",
            r.n,
            r.goal / MIB,
            live / MIB
        );
    }
    eprintln!(
        "peak heap {} MiB for {} MiB live ({:.2}×), {} cycles",
        peak as usize / MIB,
        live / MIB,
        peak as f64 / live as f64,
        steady.len()
    );
    assert!(
        peak as f64 <= 16.0 * live as f64,
        "the heap ran away: peak {} MiB for {} MiB live (last marked {} MiB), {:?}",
        peak as usize / MIB,
        live / MIB,
        marked / MIB,
        heap.gc_summary()
    );
    // And the goal tracks the live heap, not a runaway.
    let goal = heap.heap_goal();
    assert!(
        goal >= 2 * marked && goal as f64 <= 3.0 * live as f64,
        "goal {goal}, marked {marked}"
    );
}

/// GOMEMLIMIT with GOGC=off: the limit alone drives cycles, and every
/// cycle's goal stays under it (the pacer's decision). How far mapped
/// memory passes the limit while a cycle marks depends on the CPU the
/// collector gets: on a quiet machine it stays within 1.05 × (Go's own
/// tolerance); with other work on both cores 104 MiB (1.08 ×) was seen. The
/// test bounds it against a runaway (1.5 ×, where a heap with no limit
/// would map about 1 GiB here) and prints the figure.
#[test]
fn gomemlimit_keeps_mapped_memory_near_the_limit() {
    let _serial = serial();
    let limit = 96 * MIB;
    let heap = Heap::new(
        Config::default()
            .gc_percent(None)
            .memory_limit(Some(limit as u64))
            .gctrace(std::env::var_os("GOMEM_TEST_TRACE").is_some()),
    );
    let mut m = heap.attach();
    let _keep = retain(&mut m, 24 * MIB);
    let mut worst = 0usize;
    for _ in 0..60 {
        churn(&mut m, 16 * MIB);
        let s = heap.stats();
        worst = worst.max((s.heap_sys - s.heap_released) as usize);
    }
    assert!(
        heap.gc_summary().cycles > 3,
        "the limit drives cycles with GOGC=off"
    );
    for r in heap.cycle_history() {
        assert!(
            r.goal <= limit,
            "cycle {}: goal {} MiB over the {} MiB limit",
            r.n,
            r.goal / MIB,
            limit / MIB
        );
    }
    eprintln!(
        "mapped at most {} MiB under a {} MiB limit ({:.3}×)",
        worst / MIB,
        limit / MIB,
        worst as f64 / limit as f64
    );
    assert!(
        worst as f64 <= 1.5 * limit as f64,
        "mapped {} MiB over a {} MiB limit: a runaway",
        worst / MIB,
        limit / MIB
    );
}

#[test]
fn a_limit_below_the_live_heap_engages_the_cpu_limiter_instead_of_spinning() {
    let _serial = serial();
    let heap = Heap::new(Config::default().memory_limit(Some(8 * MIB as u64)));
    let mut m = heap.attach();
    // Small nodes: every cycle has millions of objects to mark, so with the
    // limit far below the live heap the collector would take the machine.
    let _keep = retain_chains::<Link>(&mut m, 48 * MIB);
    // The limiter's bucket holds one CPU-second per CPU: it fills after a
    // few seconds of the collector taking more than half the machine.
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(12)
        && heap.cpu_limiter_engagements() == 0
    {
        churn(&mut m, 4 * MIB);
    }
    let s = heap.stats();
    assert!(
        heap.cpu_limiter_engagements() > 0,
        "limiter never engaged: {:?}, gc cpu {:.2}",
        heap.gc_summary(),
        s.gc_cpu_fraction
    );
    // Once engaged, the collector backs off and the mutator runs: it
    // allocates far more than the limit while cycles are held back.
    let before = heap.stats().mallocs;
    let cycles = heap.gc_summary().cycles;
    churn(&mut m, 64 * MIB);
    assert!(heap.stats().mallocs - before >= 200_000);
    assert!(s.mallocs > 100_000);
    assert!(heap.gc_summary().cycles >= cycles);
}

#[test]
fn free_os_memory_returns_free_pages_and_rss_falls() {
    let _serial = serial();
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    {
        let keep = retain(&mut m, 200 * MIB);
        drop(keep);
    }
    m.collect();
    let before = rss_bytes().unwrap();
    let released_before = heap.stats().heap_released;
    m.free_os_memory();
    let after = rss_bytes().unwrap();
    let s = heap.stats();
    assert!(s.heap_released > released_before + 100 * MIB as u64);
    assert!(
        before > after + 100 * MIB,
        "RSS {} MiB -> {} MiB",
        before / MIB,
        after / MIB
    );
}

#[test]
fn knobs_return_their_previous_values() {
    let _serial = serial();
    let heap = Heap::new(Config::default());
    assert_eq!(heap.set_gc_percent(Some(50)), Some(100));
    assert_eq!(heap.set_gc_percent(None), Some(50));
    assert_eq!(heap.set_gc_percent(Some(200)), None);
    assert_eq!(heap.set_memory_limit(Some(1 << 30)), None);
    assert_eq!(heap.set_memory_limit(None), Some(1 << 30));
    // GOGC=200 doubles the minimum goal (8 MiB).
    assert!(heap.heap_goal() >= 8 * MIB);
}

#[test]
fn gc_percent_off_means_no_automatic_cycles() {
    let _serial = serial();
    let heap = Heap::new(Config::default().gc_percent(None));
    let mut m = heap.attach();
    churn(&mut m, 64 * MIB);
    assert_eq!(heap.gc_summary().cycles, 0);
    m.collect();
    assert_eq!(heap.gc_summary().cycles, 1);
    assert_eq!(heap.stats().num_forced_gc, 1);
}

#[test]
fn the_hard_limit_is_an_error_and_the_heap_stays_usable() {
    let _serial = serial();
    let heap = Heap::new(Config::default().hard_memory_limit(Some(32 * MIB)));
    let mut m = heap.attach();
    let keep = retain(&mut m, 4 * MIB);
    let err = loop {
        match m.try_alloc_slice(1 << 20, |_| 0u64) {
            Ok(big) => {
                let _ = m.root(big);
            }
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("hard memory limit"), "{err}");
    // Everything allocated is intact and allocation goes on where it fits.
    assert!(count(&m, &keep) > 10_000);
    blob(&m);
}

#[test]
fn memstats_add_up() {
    let _serial = serial();
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let _keep = retain(&mut m, 8 * MIB);
    churn(&mut m, 64 * MIB);
    m.collect();
    let s = heap.stats();
    assert!(s.num_gc >= 1 && s.mallocs >= s.frees);
    assert_eq!(s.heap_objects, s.mallocs - s.frees);
    assert_eq!(s.heap_idle + s.heap_inuse, s.heap_sys);
    assert!(s.heap_released <= s.heap_idle);
    assert!(s.heap_alloc <= s.heap_inuse + MIB as u64);
    assert!(s.heap_alloc >= 8 * MIB as u64);
    assert!(s.next_gc >= 16 * MIB as u64);
    assert!(s.last_gc > 0);
    let last = s.pause_end[(s.num_gc as usize + 255) % 256];
    assert_eq!(last, s.last_gc);
    let by_class_256 = s.by_size.iter().find(|c| c.size == 256).unwrap();
    assert!(by_class_256.mallocs > 200_000);
    assert!(by_class_256.frees > 0);
}
