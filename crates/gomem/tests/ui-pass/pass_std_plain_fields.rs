//! Plain std types are fields of heap objects (issue 12): everything that
//! holds no Member is accepted, as serde accepts it.
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use gomem::{Config, Heap, Member, Trace};

#[derive(Trace)]
struct Payload {
    code: Box<[u64]>,
    names: Vec<String>,
    index: HashMap<String, u64>,
    name: Arc<str>,
    calls: Mutex<u64>,
    lines: BTreeMap<u32, Vec<u32>>,
    queue: VecDeque<u8>,
    doc: Option<Box<str>>,
    set: HashSet<(u8, char)>,
    tree: BTreeSet<i64>,
    list: LinkedList<f64>,
    heap: BinaryHeap<u32>,
    cell: Cell<u32>,
    refcell: RefCell<Vec<u8>>,
    rw: RwLock<String>,
    once: OnceLock<Box<[u8]>>,
    cow: Cow<'static, str>,
    path: std::path::PathBuf,
    result: Result<u8, String>,
    range: std::ops::Range<usize>,
    // Inline wrappers may hold Members: they are traced.
    next: Option<Member<Payload>>,
    pair: (u64, Member<Payload>),
}

fn main() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach();
    let p = m.alloc(Payload {
        code: vec![1, 2, 3].into_boxed_slice(),
        names: vec!["a".into()],
        index: HashMap::new(),
        name: "f".into(),
        calls: Mutex::new(0),
        lines: BTreeMap::new(),
        queue: VecDeque::new(),
        doc: Some("d".into()),
        set: HashSet::new(),
        tree: BTreeSet::new(),
        list: LinkedList::new(),
        heap: BinaryHeap::new(),
        cell: Cell::new(1),
        refcell: RefCell::new(vec![]),
        rw: RwLock::new(String::new()),
        once: OnceLock::new(),
        cow: Cow::Borrowed("c"),
        path: "/".into(),
        result: Ok(1),
        range: 0..1,
        next: None,
        pair: (0, Member::null()),
    });
    let root = m.root(p);
    m.collect();
    assert_eq!(root.get(&m).code.iter().sum::<u64>(), 6);
}
