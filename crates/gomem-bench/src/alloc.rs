//! `gomem-bench alloc`: allocation figures a newcomer can read at a glance.
//!
//! For each object size it allocates a batch into a fresh heap (nothing is
//! freed; no collector runs) and reports ns per allocation, millions of
//! allocations per second, and the RSS the batch left behind; `Box::new`
//! on the system allocator runs beside it (objects kept alive, first byte
//! written, in both). The last line allocates 1 GiB as
//! 32-byte objects and reports RSS over the bytes allocated (the metadata
//! overhead target is ≤ 5 %).

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use gomem::rss_bytes;
use gomem::{Config, Heap, ObjectKind};

/// Options of `gomem-bench alloc`.
#[derive(clap::Args)]
pub struct Args {
    /// Bytes allocated per size (the object count follows from it).
    #[arg(long, default_value_t = 256 << 20)]
    bytes: usize,
    /// Skip the 1 GiB RSS-overhead run.
    #[arg(long)]
    no_rss_run: bool,
}

struct Row {
    what: String,
    ns_per_op: f64,
    rss_mib: f64,
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn gomem_row(size: usize, kind: ObjectKind, bytes: usize) -> Result<Row, Box<dyn Error>> {
    let n = (bytes / size).max(1);
    let heap = Heap::new(Config::default().gc_percent(None));
    let p = heap.attach();
    let rss0 = rss_bytes().unwrap_or(0);
    let start = Instant::now();
    for i in 0..n {
        let obj = p.alloc_raw(size, kind)?;
        // Touch the object as a program would (as the Box rows do).
        // SAFETY: a fresh object of at least one byte, owned by this loop.
        unsafe { obj.as_ptr().write(i as u8) };
        black_box(obj);
    }
    let elapsed = start.elapsed();
    let rss = rss_bytes().unwrap_or(0).saturating_sub(rss0);
    Ok(Row {
        what: format!("gomem {size} B {kind:?}"),
        ns_per_op: elapsed.as_nanos() as f64 / n as f64,
        rss_mib: mib(rss),
    })
}

fn box_row<const N: usize>(bytes: usize) -> Row {
    let n = (bytes / N).max(1);
    let rss0 = rss_bytes().unwrap_or(0);
    let start = Instant::now();
    for i in 0..n {
        // Kept alive (leaked) like the gomem objects, which no collector frees
        // here; the first byte is written as in the gomem rows.
        let obj = Box::leak(Box::<[u8; N]>::new_uninit());
        // SAFETY: writing one byte of an uninitialised, owned allocation.
        unsafe { obj.as_mut_ptr().cast::<u8>().write(i as u8) };
        black_box(obj);
    }
    let elapsed = start.elapsed();
    let rss = rss_bytes().unwrap_or(0).saturating_sub(rss0);
    Row {
        what: format!("Box::new {N} B"),
        ns_per_op: elapsed.as_nanos() as f64 / n as f64,
        rss_mib: mib(rss),
    }
}

/// Runs the microbenchmark and prints its table.
pub fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let b = args.bytes;
    let rows = vec![
        gomem_row(8, ObjectKind::Noscan, b / 4)?,
        gomem_row(16, ObjectKind::Scan, b)?,
        box_row::<16>(b),
        gomem_row(64, ObjectKind::Noscan, b)?,
        box_row::<64>(b),
        gomem_row(1024, ObjectKind::Noscan, b)?,
        box_row::<1024>(b),
        gomem_row(32 << 10, ObjectKind::Noscan, b)?,
        gomem_row(64 << 10, ObjectKind::Noscan, b)?,
        box_row::<{ 64 << 10 }>(b),
    ];
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "allocation", "ns/op", "Mops/s", "RSS MiB"
    );
    for r in &rows {
        println!(
            "{:<28} {:>10.2} {:>10.1} {:>10.1}",
            r.what,
            r.ns_per_op,
            1e3 / r.ns_per_op,
            r.rss_mib
        );
    }
    if !args.no_rss_run {
        rss_overhead()?;
    }
    Ok(())
}

/// 1 GiB as 32-byte objects: RSS over bytes allocated.
fn rss_overhead() -> Result<(), Box<dyn Error>> {
    const TOTAL: usize = 1 << 30;
    let heap = Heap::new(Config::default().gc_percent(None));
    let p = heap.attach();
    let rss0 = rss_bytes().unwrap_or(0);
    for _ in 0..TOTAL / 32 {
        let obj = p.alloc_raw(32, ObjectKind::Noscan)?;
        // Touch the object as a program would.
        // SAFETY: a fresh 32-byte object owned by this loop.
        unsafe { obj.as_ptr().write(1) };
    }
    let rss = rss_bytes().unwrap_or(0).saturating_sub(rss0);
    println!(
        "1 GiB as 32 B objects: RSS grew {:.1} MiB ({:.2}% over the bytes allocated)",
        mib(rss),
        (rss as f64 / TOTAL as f64 - 1.0) * 100.0
    );
    Ok(())
}
