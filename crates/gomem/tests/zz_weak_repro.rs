use gomem::{Config, Heap, Member, Phase, Trace};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
#[derive(Trace)]
struct N {
    id: u64,
    chk: u64,
    kid: Member<N>,
}
fn chk(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// B allocates X (white) with a kid K allocated by A, drops X, passes its
/// safepoint in Mark, then stops polling (attached) until the cycle flips.
/// X's span stays cached in B's mcache at sweepgen h+1. A then upgrades a
/// Weak to X.
#[test]
fn weak_upgrade_of_dead_object_in_unreleased_span() {
    let heap = Heap::new(Config::default().gc_percent(None).clobber_free(true));
    let mut bad = 0;
    for round in 0..30u64 {
        let stage = Arc::new(AtomicU32::new(0));
        let (weak, kid_root) = {
            let ma = heap.attach();
            let k = ma.alloc(N {
                id: 1,
                chk: chk(1),
                kid: Member::null(),
            });
            (stage.clone(), ma.root(k))
        };
        let _ = weak;
        let h2 = heap.clone();
        let st = stage.clone();
        let slot = Arc::new(std::sync::Mutex::new(None));
        let slot2 = slot.clone();
        let b = std::thread::spawn(move || {
            let mut m = h2.attach();
            let w = {
                let k = kid_root.get(&m);
                let x = m.alloc(N {
                    id: 2,
                    chk: chk(2),
                    kid: Member::null(),
                });
                x.kid.set(&m, Some(k));
                m.weak(x)
            };
            drop(kid_root);
            st.store(1, SeqCst); // main requests a cycle
            while h2.gc_phase() != Phase::Mark {
                m.safepoint();
                std::hint::spin_loop();
            }
            m.safepoint(); // stack black for this cycle
            let n0 = h2.gc_summary().cycles;
            while h2.gc_summary().cycles == n0 {
                std::hint::spin_loop();
            } // attached, no poll
            *slot2.lock().unwrap() = Some(w);
            st.store(2, SeqCst);
            while st.load(SeqCst) != 3 {
                std::hint::spin_loop();
            }
            drop(m);
        });
        while stage.load(SeqCst) != 1 {
            std::hint::spin_loop();
        }
        heap.request_cycle();
        while stage.load(SeqCst) != 2 {
            std::hint::spin_loop();
        }
        // The cycle flipped; B has not adopted it. Give the background
        // sweeper time to sweep K's span.
        std::thread::sleep(std::time::Duration::from_millis(30));
        // Upgrade from a third mutator while B still holds its cached span.
        // (B returns the Weak; upgrade it here through a fresh mutator before
        // B drops its Mutator.)
        let w: gomem::Weak<N> = slot.lock().unwrap().take().unwrap();
        let m = heap.attach();
        if let Some(x) = w.upgrade(&m) {
            let k = x.kid.get(&m).unwrap();
            if k.chk != chk(k.id) {
                bad += 1;
                eprintln!("round {round}: Weak upgraded a dead object whose kid is freed: kid id {:#x} chk {:#x}", k.id, k.chk);
            } else {
                eprintln!("round {round}: Weak upgraded (kid still intact)");
            }
        }
        drop(m);
        stage.store(3, SeqCst);
        b.join().unwrap();
    }
    assert_eq!(bad, 0);
}
