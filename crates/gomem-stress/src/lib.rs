//! The stress oracle for gomem: many mutators rewire one shared object graph
//! while the collector runs cycles back to back, and a shadow model kept
//! outside the heap says at every step what the graph must look like.
//!
//! This crate is unpublished. `tests/stress.rs` runs it in CI and
//! `gomem-bench stress` runs it for as long as asked. It talks to the heap
//! through gomem's public API only, plus one hidden hook,
//! `gomem::hooks::heap_owns` (is this object in that heap?), which lets it
//! check every pointer it reads before following it.
//!
//! **The heap side** (`graph`, `values`). Every graph node is a `Node`:
//! an id, a canary derived from the id, three `Member<Node>` kids, a `Member`
//! to a noscan payload (`Slice<u64>` whose words are a function of the
//! owner's id, the length and the index; length 0 lands in the tiny
//! allocator, a few are large objects), a `Member` to a `Tag`, and two
//! `ValueSlot<Obj>`s (gomem's VM API, issue 12). `Node` is described by a
//! pointer bitmap (value slots count as pointer words: the marker decodes
//! each); `Tag` has a `Drop` (it counts its drops in a shared drop ledger
//! and poisons its own canary) and a `Member` back into the graph, so it is
//! a typed object that is both scanned and dropped. A value is nil, a
//! boolean, a number (immediates are derived from the id of the object
//! whose slot holds them, special floats included) or a pointer to an
//! `Obj`, an enum as a VM's object type is: a `Cell` (two value slots, a
//! `Member<Node>` back into the graph and a `HeapMap<Obj>` from small
//! numbers to values) or a `Key` (a `Box<str>` text interned in one
//! `WeakSet<Obj>` shared by all threads). Reading a value decodes the word,
//! then the object's kind. The roots are a heap array of `Member<Node>` held by one `Root` (root slots),
//! a few `Root<Node>` handles ("extra roots", created, retargeted and dropped
//! as the run goes) and a `Vector<Node>` held by a `Root` (pushes grow it by
//! copying through the barrier).
//!
//! **The model** (`model`). A `Mutex<Model>` holds, for every
//! node the graph may reach, its kid ids, payload length, tag id and values
//! (an immediate's exact word or an object's id); the tags' back edges;
//! every cell (values, node link, map) and key (text) the values may reach,
//! in the nodes' id space; the model of every root; the objects a thread
//! holds on its stack between two locked sections (`in_flight`) and on its
//! value stacks (`on_stack`); the live `Weak`s; and, per key text, the
//! weak set's liveness clock. Every store into the graph happens under the
//! model lock together with the matching model update (`oracle`'s
//! `slot_set`, `vslot`'s `vslot_set`),
//! so whoever holds the lock sees the heap and the model agree. gomem lets a
//! thread hold a `std::sync::Mutex` while it allocates (the collector never
//! makes a mutator wait for another); threads take the lock half the time
//! inside `Mutator::blocking` and half the time attached (always attached
//! while the Mutator is exposed, see below), so both paths of the handshake
//! are exercised.
//!
//! **Operations** (`worker`, `ops`; random,
//! from a seeded xorshift per thread): allocate and link a node (usually
//! splicing it above the slot's old target, sometimes with edges to existing
//! nodes); build a private subtree without the lock, then link it (the
//! insertion half of the barrier); unlink; *move* a pointer through the
//! stack — read a slot, clear it, release the lock, allocate garbage,
//! re-lock, store it elsewhere (the deletion half's job: the node lives only
//! on the stack meanwhile); copy a pointer (sharing, cycles); create,
//! retarget and drop extra roots; push/pop/set the vector; replace payloads
//! and tags, retarget a tag's back edge; take `Weak`s and upgrade them (a
//! success must yield the right, intact node, and sometimes the node is
//! linked back into the graph: resurrection through a weak); allocate
//! garbage (with droppable objects, sometimes with a `Weak` to it); read
//! random paths without the lock while others rewire them.
//!
//! **VM API operations** (`vslot`, `vstack`, `keys`; one operation in five,
//! `StressConfig::vm_ops`): store into a value slot or map entry picked by
//! a walk (down through cells) an immediate — often over a pointer, the
//! barrier's deletion half —, a new cell, another slot's object (sharing,
//! cycles through values) or an interned key, or remove a map entry, or
//! retarget a cell's node link; move an object through the stack out of a
//! value slot (overwritten with an immediate, the lock released, garbage
//! allocated); read values and maps without the lock; push onto the
//! worker's value stacks (one of nodes, one of cells and keys) an object
//! picked by a walk and usually unlink it, so that the stack — plain
//! stores, no barrier, scanned at safepoints — is its only holder for as
//! many batches, safepoints and cycles as the mix leaves it there, then
//! pop it, check it and link it back; copy within the stacks
//! (`push_copy`, `set_from_top`), overwrite and truncate them; intern keys
//! under the lock (and link them into the graph) and without it (several
//! threads at once against the sweeper's purges). Each thread calls
//! `safepoint()` every 1–8 operations and `blocking(sleep)` now and then;
//! thread 0 calls `collect()` every `forced_collect_every` operations. The
//! graph is held between one half and three quarters of the object budget
//! (unlinks walk deep, so they cut small subgraphs; below the target they
//! turn into allocations, above it allocations turn into unlinks), so
//! marking always has a few thousand objects to trace.
//!
//! **Hostile programs** (`hostile`; issue 11's H1–H3, which the oracle
//! once missed). One operation in `lend_every` lends a `&Node` (usually
//! unlinked, so it lives only on the lender's stack) to a helper thread
//! with its own Mutator, which waits for marking, passes a safepoint, loads
//! kids through the borrowed reference and stores them into the graph while
//! the lender keeps allocating without a safepoint (H2: a black mutator's
//! load through another mutator's grey stack). Half of each worker's
//! batches run with its Mutator exposed in a thread-local, where every
//! `Tag`'s Drop looks for it and tries `Member::get`, `Member::set`,
//! `Root::get`, `Weak::upgrade`, `Mutator::root`, `Mutator::alloc` and
//! `Heap::attach` through it (H1): each must panic, and one that returns is
//! a failure ("a Drop reached the heap"). One operation in
//! `attach_twice_every` calls `heap.attach()` on a thread that holds a
//! Mutator (H3): it must panic with "already attached". The report counts
//! lends, refusals and second attaches, so a run shows it tested them.
//!
//! **Starvation** (`starve`). `yield_every` injects yields and short
//! sleeps at the windows that matter (between an allocation and the store
//! that publishes it, between a load and its use, around safepoints, while
//! a node lives only on a stack), and `hogs` runs CPU-hog threads beside
//! the workers, so that threads are preempted inside those windows as on a
//! loaded machine (H6).
//!
//! **Checks.** Every object read is checked (`inspect`):
//! its address lies in this heap and is aligned, its canary matches its id
//! (a freed-and-reused or clobbered object fails here), its payload words
//! and its tag's canary are right (a poisoned tag canary means its Drop ran
//! while it was reachable). Every value read is decoded: an immediate must
//! be one its slot's owner was given, a pointer must reach an object of
//! this heap whose variant, canary and (for a key) text agree. Under the
//! lock, every node and object met is also compared with the model (kids,
//! payload, tag, back edge, values word for word, kinds, node links, maps
//! through both `for_each` and `get`, `HeapMap::len`). A value read back
//! from a value stack must be what was pushed at that position (the
//! immediate's word, or the same object, intact and as the model says);
//! those read back after two or more cycles on the stack are counted
//! apart. Every `verify_every`, one
//! thread takes the lock and walks the whole heap graph from the roots and
//! the model from its roots (`verify`), through value edges too: the
//! reachable sets and every edge must be identical, no two objects may
//! carry one id. It then checks the weak pointers (`weak`): a `Weak` whose
//! target the model says is reachable (from the roots, from a stack in
//! flight or from a value stack) must upgrade to it; one whose target has been unreachable since a
//! verification at which `c` cycles had completed must no longer upgrade
//! once `c + LIVENESS_CYCLES` have (DESIGN §4 promises the end of the second
//! cycle; the oracle allows a third). An upgrade, or a store that overwrites
//! a pointer, may shade a node and so keep everything it reaches one more
//! cycle: the next verification restarts the clock of every entry such a
//! node reaches, and the verifier itself never upgrades a weak whose clock
//! runs. It then checks the weak set (`keys`): a reachable key is the only
//! reachable one with its text and `WeakSet::find` returns that very
//! object; a text none of whose keys has been reachable since a
//! verification at which `c` cycles had completed must be gone from the set
//! once `c + 4` have (a lookup of the text by a worker, or a touched node
//! that reaches one of its keys, restarts the clock); every key a lookup
//! returns, and every candidate it shows to `eq`, must be intact. Finally
//! it prunes the model to what the roots, the stacks and the weaks can
//! still reach (every 20 ms while the model map is at its cap).
//!
//! **At the end** (`teardown`) the graph is verified once
//! more and dropped; two `collect()`s must then bring the heap back to its
//! baseline (see [`OBJECT_TOLERANCE`]) and must have run the `Drop` of every
//! droppable object exactly once; after the heap itself is dropped the count
//! must still be exact (nothing dropped twice at teardown), and the weak set
//! must be empty.
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
//!
//! # Modules
//!
//! | module | owns |
//! | --- | --- |
//! | `config` | [`StressConfig`], the environment variables |
//! | `report` | [`StressReport`] and its printing |
//! | `rng` | the seeded generator and the 64-bit mixer everything derives from |
//! | `canary` | canary and payload values, the drop ledger |
//! | `graph` | the heap objects (`Node`, `Tag`) and the graph's shape limits |
//! | `values` | the value world: `Obj` (`Cell`, `Key`), immediates, their model (`MVal`, `MObj`) |
//! | `model` | the shadow model and its reachability |
//! | `shared` | state shared by the threads: model lock, counters, failures |
//! | `oracle` | the per-run handles, slots, the one way to store into the graph |
//! | `inspect` | checking one object or value read from the heap, comparing it with the model |
//! | `verify` | the full heap-against-model verification and pruning |
//! | `weak` | the weak entries and their liveness clocks |
//! | `keys` | the weak set of keys: interning with and without the lock, its checks and clocks |
//! | `worker` | a mutator thread: its loop and the operation mix |
//! | `alloc` | allocating nodes, payloads, tags and garbage |
//! | `walk` | random walks from the roots that pick slots and nodes |
//! | `ops` | the graph operations |
//! | `vslot` | value slots and map entries, storing into them, the value operations |
//! | `vstack` | each worker's value stacks and the stack operation |
//! | `hostile` | the hostile programs: Drops that reach for the heap, a second attach, `&Node` lent to another thread |
//! | `starve` | yield injection and CPU hogs |
//! | `run` | setting up a run and its threads |
//! | `teardown` | the end of a run: leak or drop the graph, leak and drop checks |
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod alloc;
mod canary;
mod config;
mod graph;
mod hostile;
mod inspect;
mod keys;
mod model;
mod ops;
mod oracle;
mod report;
mod rng;
mod run;
mod shared;
mod starve;
mod teardown;
mod values;
mod verify;
mod vslot;
mod vstack;
mod walk;
mod weak;
mod worker;

pub use config::{duration_from_env, seed_from_env, StressConfig, SECONDS_VAR, SEED_VAR};
pub use report::StressReport;
pub use run::{run, run_with_progress};
pub use teardown::{BYTES_TOLERANCE, OBJECT_TOLERANCE};
pub use worker::OP_NAMES;
