//! The API a language VM needs (issue 12): value words, value slots,
//! mutator-local value stacks, weak interning sets, heap maps, and plain std
//! types in heap objects — each across forced collections, with checkmark
//! (every mark re-verified) and clobber-on-free (freed memory poisoned).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gomem::internals::{layout_of, Layout};
use gomem::{Config, Gc, Heap, HeapMap, Mutator, Trace, Value, ValueSlot, ValueStack, WeakSet};

mod common;

fn debug() -> Config {
    Config::default().checkmark(true).clobber_free(true)
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

/// A Lox-like object type.
#[derive(Trace)]
enum Obj {
    Str(Box<str>),
    Pair(ValueSlot<Obj>, ValueSlot<Obj>),
    Table(HeapMap<Obj>),
    Counted(Counted),
}

#[derive(Trace)]
struct Counted(u64);

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

impl Obj {
    fn str(&self) -> &str {
        match self {
            Obj::Str(s) => s,
            _ => panic!("not a string"),
        }
    }
    fn pair(&self) -> (&ValueSlot<Obj>, &ValueSlot<Obj>) {
        match self {
            Obj::Pair(a, b) => (a, b),
            _ => panic!("not a pair"),
        }
    }
    fn table(&self) -> &HeapMap<Obj> {
        match self {
            Obj::Table(t) => t,
            _ => panic!("not a table"),
        }
    }
}

fn string<'m>(m: &'m Mutator, s: &str) -> Value<'m, Obj> {
    Value::from_gc(m.alloc(Obj::Str(s.into())))
}

fn pair<'m>(m: &'m Mutator, a: Value<'_, Obj>, b: Value<'_, Obj>) -> Value<'m, Obj> {
    let p = m.alloc(Obj::Pair(ValueSlot::nil(), ValueSlot::nil()));
    p.pair().0.set(m, a);
    p.pair().1.set(m, b);
    Value::from_gc(p)
}

/// Allocates garbage so that cycles have something to free.
fn churn(m: &Mutator, n: usize) {
    for i in 0..n {
        let _ = string(m, &format!("garbage {i}"));
    }
}

#[test]
fn value_encoding_is_one_word_and_round_trips() {
    assert_eq!(std::mem::size_of::<Value<'static, Obj>>(), 8);
    assert_eq!(std::mem::size_of::<ValueSlot<Obj>>(), 8);
    let heap = Heap::new(debug());
    let m = heap.attach();
    let s = string(&m, "x");
    assert!(s.is_gc() && !s.is_number() && !s.is_nil());
    assert_eq!(s.as_gc().unwrap().str(), "x");
    for x in [0.0, -0.0, 1e300, -7.25, f64::INFINITY] {
        let v: Value<'_, Obj> = x.into();
        assert_eq!(v.as_number().unwrap().to_bits(), x.to_bits());
        assert!(v.as_gc().is_none());
    }
    let t: Value<'_, Obj> = true.into();
    assert_eq!(t.as_bool(), Some(true));
    assert_eq!(Value::<Obj>::NIL, Value::nil());
    assert_ne!(Value::<Obj>::from_bool(false), Value::nil());
    assert_eq!(format!("{:?}", Value::<Obj>::from_number(2.5)), "2.5");
}

/// A struct of value slots is described by a pointer bitmap (the fast
/// mark path), and what its slots point to survives.
#[derive(Trace)]
struct Frame {
    a: ValueSlot<Obj>,
    n: u64,
    b: ValueSlot<Obj>,
}

#[test]
fn value_slots_are_bitmap_words_and_keep_their_targets() {
    assert!(matches!(layout_of::<Frame>(), Layout::Bitmap(w) if w.count_ones() == 2));
    assert_eq!(layout_of::<[ValueSlot<Obj>; 4]>(), Layout::Bitmap(0b1111));
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let mut stack: ValueStack<Obj> = m.value_stack();
    let frames = m.root({
        let f = m.alloc(Frame {
            a: ValueSlot::new(Value::from_number(1.0)),
            n: 7,
            b: ValueSlot::nil(),
        });
        f.a.set(&m, string(&m, "a"));
        f.b.set(&m, pair(&m, string(&m, "b0"), Value::from_number(3.0)));
        f
    });
    stack.push(&m, Value::from_number(0.0));
    for round in 0..6 {
        churn(&m, 2000);
        if round % 2 == 0 {
            m.collect();
        } else {
            m.safepoint();
        }
        let f = frames.get(&m);
        assert_eq!(f.n, 7);
        assert_eq!(f.a.get(&m).as_gc().unwrap().str(), "a");
        let b = f.b.get(&m).as_gc().unwrap();
        let (x, y) = b.pair();
        assert_eq!(x.get(&m).as_gc().unwrap().str(), "b0");
        assert_eq!(y.get(&m).as_number(), Some(3.0));
        // Overwrite with fresh values: the barrier logs the pointer parts.
        f.a.set(&m, string(&m, "a"));
        f.b.set(&m, pair(&m, string(&m, "b0"), Value::from_number(3.0)));
    }
}

#[test]
#[should_panic(expected = "not inside an object of this Mutator's heap")]
fn a_value_slot_outside_the_heap_refuses_a_pointer() {
    let heap = Heap::new(debug());
    let m = heap.attach();
    let slot: ValueSlot<Obj> = ValueSlot::nil();
    slot.set(&m, string(&m, "x"));
}

#[test]
#[should_panic(expected = "ValueSlot::new takes an immediate")]
fn a_value_slot_is_made_with_an_immediate_only() {
    let heap = Heap::new(debug());
    let m = heap.attach();
    let _ = ValueSlot::new(string(&m, "x"));
}

#[test]
#[should_panic(expected = "belongs to another heap")]
fn a_value_slot_refuses_a_pointer_of_another_heap() {
    let h1 = Heap::new(debug());
    let h2 = Heap::new(debug());
    let m1 = h1.attach();
    let m2 = h2.attach();
    let p = m1.alloc(Obj::Pair(ValueSlot::nil(), ValueSlot::nil()));
    p.pair().0.set(&m1, string(&m2, "elsewhere"));
}

#[test]
fn values_survive_collections_only_through_a_value_stack() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let mut stack: ValueStack<Obj> = m.value_stack();
    let n = 3000;
    for i in 0..n {
        let v = if i % 3 == 0 {
            Value::from_number(i as f64)
        } else if i % 3 == 1 {
            string(&m, &format!("s{i}"))
        } else {
            pair(
                &m,
                string(&m, &format!("p{i}")),
                Value::from_number(i as f64),
            )
        };
        stack.push(&m, v);
        if i % 500 == 0 {
            m.safepoint();
        }
    }
    for round in 0..4 {
        churn(&m, 5000);
        m.collect();
        for i in 0..n {
            let v = stack.get(&m, i);
            match i % 3 {
                0 => assert_eq!(v.as_number(), Some(i as f64)),
                1 => assert_eq!(v.as_gc().unwrap().str(), format!("s{i}")),
                _ => {
                    let p = v.as_gc().unwrap();
                    let (a, b) = p.pair();
                    assert_eq!(a.get(&m).as_gc().unwrap().str(), format!("p{i}"));
                    assert_eq!(b.get(&m).as_number(), Some(i as f64));
                }
            }
        }
        // Rewrite a part of the stack between collections.
        for i in (round..n).step_by(7) {
            let v = stack.get(&m, i);
            stack.set(&m, i, v);
        }
    }
    assert_eq!(
        stack
            .peek(&m, 0)
            .as_gc()
            .unwrap()
            .pair()
            .1
            .get(&m)
            .as_number(),
        Some((n - 1) as f64)
    );
    stack.truncate(8);
    assert_eq!(stack.len(), 8);
    m.collect();
    assert_eq!(stack.pop(&m).as_gc().unwrap().str(), "s7");
}

/// Values move between the heap and the stack while cycles run: loaded from
/// a heap pair, pushed, the heap field overwritten (the deletion half of the
/// barrier keeps them), popped and stored back.
#[test]
fn values_move_between_stack_and_heap_during_marking() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let mut stack: ValueStack<Obj> = m.value_stack();
    let cells = 64;
    stack.push(&m, {
        let t = m.alloc(Obj::Table(HeapMap::new()));
        for i in 0..cells {
            t.table().set(
                &m,
                Value::from_number(i as f64),
                string(&m, &format!("c{i}")),
            );
        }
        Value::from_gc(t)
    });
    for round in 0..300u64 {
        if round % 25 == 0 {
            heap.request_cycle();
        }
        {
            let t = stack.get(&m, 0).as_gc().unwrap();
            let k = Value::from_number((round % cells) as f64);
            let v = t.table().get(&m, k).unwrap();
            stack.push(&m, v);
            t.table().set(&m, k, Value::nil());
            churn(&m, 200);
        }
        m.safepoint();
        {
            let v = stack.pop(&m);
            assert_eq!(v.as_gc().unwrap().str(), format!("c{}", round % cells));
            let t = stack.get(&m, 0).as_gc().unwrap();
            t.table()
                .set(&m, Value::from_number((round % cells) as f64), v);
        }
        m.safepoint();
    }
    m.collect();
    let t = stack.get(&m, 0).as_gc().unwrap();
    for i in 0..cells {
        let v = t.table().get(&m, Value::from_number(i as f64)).unwrap();
        assert_eq!(v.as_gc().unwrap().str(), format!("c{i}"));
    }
}

#[test]
#[should_panic(expected = "Mutator other than the one that made it")]
fn a_value_stack_refuses_another_mutator() {
    // One Mutator per heap per thread: the other one here is of another heap.
    let heap = Heap::new(debug());
    let other = Heap::new(debug());
    let m1 = heap.attach();
    let mut stack: ValueStack<Obj> = m1.value_stack();
    let m2 = other.attach();
    stack.push(&m2, Value::nil());
}

#[test]
#[should_panic(expected = "Mutator other than the one that made it")]
fn a_value_stack_refuses_a_later_mutator_on_the_same_p() {
    let heap = Heap::new(debug());
    let m1 = heap.attach();
    let mut stack: ValueStack<Obj> = m1.value_stack();
    stack.push(&m1, Value::from_number(1.0));
    drop(m1);
    let m2 = heap.attach(); // reuses m1's P
    let _ = stack.pop(&m2);
}

#[test]
fn dropped_value_stacks_release_their_values() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let before = DROPS.load(Ordering::Relaxed);
    {
        let mut stack: ValueStack<Obj> = m.value_stack();
        for i in 0..100 {
            stack.push(&m, Value::from_gc(m.alloc(Obj::Counted(Counted(i)))));
        }
        m.collect();
        assert_eq!(stack.len(), 100);
    }
    m.safepoint(); // prunes the dropped stack
    m.collect();
    m.collect();
    assert!(DROPS.load(Ordering::Relaxed) - before >= 100);
}

fn hash_of(h: &RandomState, s: &str) -> u64 {
    h.hash_one(s)
}

fn intern<'m>(set: &WeakSet<Obj>, h: &RandomState, m: &'m Mutator, s: &str) -> Gc<'m, Obj> {
    set.intern(
        m,
        hash_of(h, s),
        |o| matches!(o, Obj::Str(x) if &**x == s),
        |m| m.alloc(Obj::Str(s.into())),
    )
}

#[test]
fn weak_set_entries_of_dead_objects_disappear_and_live_ones_stay() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let set = WeakSet::<Obj>::new(&heap);
    let h = RandomState::new();
    let mut stack: ValueStack<Obj> = m.value_stack();
    let n = 2000;
    for i in 0..n {
        let s = intern(&set, &h, &m, &format!("k{i}"));
        assert!(Gc::ptr_eq(s, intern(&set, &h, &m, &format!("k{i}"))));
        if i % 2 == 0 {
            stack.push(&m, Value::from_gc(s));
        }
    }
    assert_eq!(set.len(), n);
    m.collect();
    m.collect();
    churn(&m, 10_000); // sweeps the rest lazily
    m.collect();
    assert_eq!(set.len(), n / 2, "odd keys were unreachable");
    for i in 0..n {
        let k = format!("k{i}");
        let found = set.find(&m, hash_of(&h, &k), |o| o.str() == k);
        if i % 2 == 0 {
            let on_stack = stack.get(&m, i / 2).as_gc().unwrap();
            assert!(
                Gc::ptr_eq(found.unwrap(), on_stack),
                "{k} keeps its identity"
            );
            assert!(Gc::ptr_eq(intern(&set, &h, &m, &k), on_stack));
        } else {
            assert!(found.is_none(), "{k} was unreachable");
        }
    }
    // Interning a dead key again makes a new object.
    let again = intern(&set, &h, &m, "k1");
    assert_eq!(again.str(), "k1");
    assert_eq!(set.len(), n / 2 + 1);
}

/// Lookups during every phase: a string kept only by the set is never
/// returned after it is found unreachable, and one returned during marking
/// is kept (shaded) for as long as the mutator holds it.
#[test]
fn weak_set_lookups_across_phases_never_return_dead_objects() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let set = WeakSet::<Obj>::new(&heap);
    let h = RandomState::new();
    let mut stack: ValueStack<Obj> = m.value_stack();
    for round in 0..400 {
        if round % 20 == 0 {
            heap.request_cycle();
        }
        let key = format!("r{}", round % 50);
        {
            let s = intern(&set, &h, &m, &key);
            assert_eq!(s.str(), key);
            if round % 7 == 0 {
                stack.push(&m, Value::from_gc(s));
            }
            // Store it into a fresh pair that the stack keeps, sometimes.
            if round % 5 == 0 {
                stack.push(&m, pair(&m, Value::from_gc(s), Value::nil()));
            }
            churn(&m, 300);
        }
        m.safepoint();
    }
    m.collect();
    for i in 0..stack.len() {
        let o = stack.get(&m, i).as_gc().unwrap();
        let s = match &*o {
            Obj::Str(_) => o,
            Obj::Pair(a, _) => a.get(&m).as_gc().unwrap(),
            _ => unreachable!(),
        };
        let k = s.str().to_string();
        assert!(Gc::ptr_eq(intern(&set, &h, &m, &k), s), "{k} interned once");
    }
}

#[test]
fn one_weak_set_shared_by_two_threads() {
    let heap = Heap::new(debug());
    let set = Arc::new(WeakSet::<Obj>::new(&heap));
    let h = RandomState::new();
    let seen: Arc<Mutex<HashMap<String, usize>>> = Default::default();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    std::thread::scope(|scope| {
        for t in 0..2 {
            let (heap, set, h, seen, barrier) =
                (&heap, set.clone(), &h, seen.clone(), barrier.clone());
            scope.spawn(move || {
                let mut m = heap.attach();
                let mut stack: ValueStack<Obj> = m.value_stack();
                let keys = 300;
                for round in 0..6 {
                    for i in 0..keys {
                        let k = format!("shared{}", (i * 7 + round * 13 + t) % keys);
                        let s = intern(&set, h, &m, &k);
                        assert_eq!(s.str(), k);
                        if i % 50 == 0 {
                            churn(&m, 500);
                            m.safepoint();
                        }
                    }
                    if round == 2 {
                        m.collect();
                    }
                }
                // Hold every key on this thread's stack, publish addresses.
                for i in 0..keys {
                    let k = format!("shared{i}");
                    let s = intern(&set, h, &m, &k);
                    stack.push(&m, Value::from_gc(s));
                }
                m.blocking(|| barrier.wait());
                for i in 0..keys {
                    let s = stack.get(&m, i).as_gc().unwrap();
                    let addr = s.as_ptr() as usize;
                    let prev = *seen
                        .lock()
                        .unwrap()
                        .entry(s.str().to_string())
                        .or_insert(addr);
                    assert_eq!(
                        prev,
                        addr,
                        "both threads hold the same object for {}",
                        s.str()
                    );
                }
                m.blocking(|| barrier.wait());
                m.collect();
            });
        }
    });
    assert_eq!(seen.lock().unwrap().len(), 300);
}

#[test]
fn heap_map_grows_under_collections() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let mut stack: ValueStack<Obj> = m.value_stack();
    stack.push(&m, Value::from_gc(m.alloc(Obj::Table(HeapMap::new()))));
    let n = 5000usize;
    for i in 0..n {
        {
            let t = stack.get(&m, 0).as_gc().unwrap();
            let key = if i % 2 == 0 {
                Value::from_number(i as f64)
            } else {
                // A key object kept by the stack (identity keys).
                let k = string(&m, &format!("key{i}"));
                stack.push(&m, k);
                k
            };
            assert!(t.table().set(&m, key, string(&m, &format!("v{i}"))));
            if i % 3 == 0 {
                assert!(!t.table().set(&m, key, string(&m, &format!("v{i}"))));
            }
        }
        if i % 100 == 0 {
            m.safepoint();
        }
        if i % 1000 == 999 {
            m.collect();
        }
    }
    m.collect();
    let t = stack.get(&m, 0).as_gc().unwrap();
    assert_eq!(t.table().len(), n);
    let mut odd = 1;
    for i in 0..n {
        let key = if i % 2 == 0 {
            Value::from_number(i as f64)
        } else {
            let k = stack.get(&m, odd);
            odd += 1;
            assert_eq!(k.as_gc().unwrap().str(), format!("key{i}"));
            k
        };
        let v = t.table().get(&m, key).expect("entry kept");
        assert_eq!(v.as_gc().unwrap().str(), format!("v{i}"));
    }
    // A key with the same contents but another identity is another key.
    assert!(t.table().get(&m, string(&m, "key1")).is_none());
    // Remove half, collect, and check the rest (and for_each).
    for i in (0..n).step_by(2) {
        assert!(t.table().remove(&m, Value::from_number(i as f64)));
    }
    assert!(!t.table().remove(&m, Value::from_number(0.0)));
    m.collect();
    let t = stack.get(&m, 0).as_gc().unwrap();
    assert_eq!(t.table().len(), n / 2);
    let mut count = 0;
    t.table().for_each(&m, |k, v| {
        assert!(k.is_gc());
        let key = k.as_gc().unwrap();
        assert_eq!(v.as_gc().unwrap().str()[1..], key.str()[3..]);
        count += 1;
    });
    assert_eq!(count, n / 2);
    // Re-insert after removal (tombstones are dropped when rebuilt).
    for i in 0..2000 {
        t.table()
            .set(&m, Value::from_number(i as f64), Value::from_bool(true));
        t.table().remove(&m, Value::from_number(i as f64));
    }
    assert_eq!(t.table().len(), n / 2);
}

#[test]
fn heap_map_shared_by_two_threads() {
    #[derive(Trace)]
    struct Shared(HeapMap<Obj>);
    let heap = Heap::new(debug());
    let root = {
        let m = heap.attach();
        let r = m.root(m.alloc(Shared(HeapMap::new())));
        r
    };
    std::thread::scope(|scope| {
        for t in 0..2u64 {
            let (heap, root) = (&heap, &root);
            scope.spawn(move || {
                let mut m = heap.attach();
                for i in 0..3000u64 {
                    {
                        let map = &root.get(&m).0;
                        let k = Value::from_number((i * 2 + t) as f64);
                        map.set(&m, k, string(&m, &format!("{t}:{i}")));
                        let v = map.get(&m, k).unwrap();
                        assert_eq!(v.as_gc().unwrap().str(), format!("{t}:{i}"));
                    }
                    if i % 100 == 0 {
                        m.safepoint();
                    }
                    if i == 1500 {
                        m.collect();
                    }
                }
            });
        }
    });
    let mut m = heap.attach();
    m.collect();
    let map = &root.get(&m).0;
    assert_eq!(map.len(), 6000);
    for i in 0..3000u64 {
        for t in 0..2u64 {
            let v = map.get(&m, Value::from_number((i * 2 + t) as f64)).unwrap();
            assert_eq!(v.as_gc().unwrap().str(), format!("{t}:{i}"));
        }
    }
}

/// Issue 12 item 4: plain std types are fields of heap objects.
#[derive(Trace)]
struct Function {
    code: Box<[u64]>,
    names: Vec<String>,
    index: HashMap<String, u64>,
    name: Arc<str>,
    calls: Mutex<u64>,
    lines: BTreeMap<u32, u32>,
    queue: VecDeque<u8>,
    doc: Option<Box<str>>,
    constants: ValueSlot<Obj>,
}

#[test]
fn plain_std_payloads_live_in_heap_objects() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let f = m.root({
        let f = m.alloc(Function {
            code: (0..100).collect(),
            names: vec!["a".into(), "b".into()],
            index: [("a".to_string(), 1)].into_iter().collect(),
            name: "main".into(),
            calls: Mutex::new(0),
            lines: [(1, 2)].into_iter().collect(),
            queue: [1, 2, 3].into_iter().collect(),
            doc: Some("doc".into()),
            constants: ValueSlot::nil(),
        });
        f.constants.set(&m, string(&m, "k"));
        f
    });
    for _ in 0..3 {
        churn(&m, 3000);
        m.collect();
        let f = f.get(&m);
        *f.calls.lock().unwrap() += 1;
        assert_eq!(f.code.iter().sum::<u64>(), 4950);
        assert_eq!(f.names.join(","), "a,b");
        assert_eq!(f.index["a"], 1);
        assert_eq!(&*f.name, "main");
        assert_eq!(f.lines[&1], 2);
        assert_eq!(f.queue.len(), 3);
        assert_eq!(f.doc.as_deref(), Some("doc"));
        assert_eq!(f.constants.get(&m).as_gc().unwrap().str(), "k");
    }
    assert_eq!(*f.get(&m).calls.lock().unwrap(), 3);
}

/// The README's example, as written there.
#[test]
fn the_readme_example_compiles_and_runs() {
    #[derive(Trace)]
    #[allow(dead_code)]
    enum Obj {
        Str(Box<str>),
        Function {
            code: Box<[u8]>,
            lines: Vec<u32>,
            name: ValueSlot<Obj>,
        },
        Instance {
            fields: HeapMap<Obj>,
        },
    }

    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let strings: WeakSet<Obj> = WeakSet::new(&heap);
    let mut stack: ValueStack<Obj> = m.value_stack();
    let name = strings.intern(
        &m,
        42,
        |o| matches!(o, Obj::Str(s) if &**s == "x"),
        |m| m.alloc(Obj::Str("x".into())),
    );
    stack.push(&m, Value::from_gc(name));
    stack.push(&m, Value::from_number(1.5));
    m.safepoint();
    let x = stack.pop(&m).as_number();
    assert_eq!(x, Some(1.5));
    assert!(matches!(&*stack.pop(&m).as_gc().unwrap(), Obj::Str(s) if &**s == "x"));
}

/// The load barrier (crate docs, tests/hostile.rs H2) covers value slots
/// and heap maps: a black mutator on another thread loads, through a `&Obj`
/// lent to it, a value reachable only from the lender's grey stack, and
/// stores it into a rooted object; it must survive.
#[test]
fn a_value_loaded_by_a_black_mutator_through_a_shared_reference_survives() {
    for use_map in [false, true] {
        let heap = Heap::new(debug().gc_percent(None));
        let mut m1 = heap.attach();
        let root = m1.root(m1.alloc(Obj::Pair(ValueSlot::nil(), ValueSlot::nil())));
        let collector = {
            // `h` is only on m1's Rust stack (grey for the whole cycle).
            let h = if use_map {
                let t = m1.alloc(Obj::Table(HeapMap::new()));
                t.table()
                    .set(&m1, Value::from_number(1.0), string(&m1, "canary"));
                t
            } else {
                let p = m1.alloc(Obj::Pair(ValueSlot::nil(), ValueSlot::nil()));
                p.pair().0.set(&m1, string(&m1, "canary"));
                p
            };
            let hr: &Obj = &h;
            common::borrow_on_a_black_mutator_while_the_lender_is_grey(&heap, &m1, |mt| {
                let v = match hr {
                    Obj::Table(t) => t.get(mt, Value::from_number(1.0)).unwrap(),
                    Obj::Pair(a, _) => a.get(mt),
                    _ => unreachable!(),
                };
                root.get(mt).pair().1.set(mt, v);
            })
        };
        m1.safepoint();
        m1.blocking(|| collector.join().expect("collector thread"));
        churn(&m1, 5000);
        m1.collect();
        m1.collect();
        let r = root.get(&m1);
        let v = r.pair().1.get(&m1);
        assert_eq!(
            v.as_gc().expect("stored by the other thread").str(),
            "canary"
        );
    }
}

/// A removed entry's value is dropped from the map at once, not kept alive
/// until the map's next rebuild (the stress oracle found the retention).
#[test]
fn a_removed_map_value_is_not_kept_alive() {
    let heap = Heap::new(debug());
    let mut m = heap.attach();
    let mut stack: ValueStack<Obj> = m.value_stack();
    let weak = {
        let t = m.alloc(Obj::Table(HeapMap::new()));
        let gone = m.alloc(Obj::Str("gone".into()));
        t.table()
            .set(&m, Value::from_number(1.0), Value::from_gc(gone));
        t.table()
            .set(&m, Value::from_number(2.0), string(&m, "kept"));
        stack.push(&m, Value::from_gc(t));
        let w = m.weak(gone);
        assert!(t.table().remove(&m, Value::from_number(1.0)));
        assert!(t.table().get(&m, Value::from_number(1.0)).is_none());
        let mut seen = 0;
        t.table().for_each(&m, |k, _| {
            assert_eq!(k.as_number(), Some(2.0));
            seen += 1;
        });
        assert_eq!(seen, 1);
        w
    };
    m.collect();
    m.collect();
    assert!(
        weak.upgrade(&m).is_none(),
        "the map kept a removed value alive"
    );
    let t = stack.get(&m, 0).as_gc().unwrap();
    let kept = t.table().get(&m, Value::from_number(2.0)).unwrap();
    assert_eq!(kept.as_gc().unwrap().str(), "kept");
}
