//! The four workloads on a reference-counting pointer with cycle
//! collection (`dumpster`'s `unsync::Gc`, `bacon_rajan_cc`'s `Cc`): both
//! are `Rc`-like (`new`, `clone`, `Deref`) and differ only in the pointer's
//! name, the function that collects cycles and how `Trace` is implemented,
//! so the workload code is written once here and expanded in each peer's
//! module by [`refcounted_workloads!`]. Each peer defines the node types
//! (`BtNode`, `Node`, `Msg`, `N4`, fields as below) with its own `Trace`
//! impls: dumpster's derive cannot run inside a `macro_rules!` expansion
//! (its generated `self` would not match the method's, by hygiene).

/// Expands binary-trees, gcbench, latency and mark (`pub fn binary_trees`,
/// `gcbench`, `latency`, `mark`, gathered in `IMPLEMENTATION`) for the
/// pointer `Ptr`, collecting cycles with `collect`.
macro_rules! refcounted_workloads {
    (
        name: $name:literal,
        ptr: $Ptr:ident,
        collect: $collect:path $(,)?
    ) => {
        use std::cell::OnceCell;
        use std::time::Duration;

        use super::{Implementation, Measured, Pacer, Pauses};
        use crate::binarytrees::{self, BinaryTrees};
        use crate::gcbench::{self, GcBench};
        use crate::latency::{self, Latency, MSG_BYTES};
        use crate::mark::{self, Mark};

        #[doc = concat!("The ", $name, " peer as `run-one` dispatches to it.")]
        pub const IMPLEMENTATION: Implementation =
            Implementation::new(binary_trees, gcbench, latency, Some(mark));

        // ---- binary-trees ---------------------------------------------------------

        fn bt_build(d: u32) -> $Ptr<BtNode> {
            let (left, right) = if d == 0 {
                (None, None)
            } else {
                (Some(bt_build(d - 1)), Some(bt_build(d - 1)))
            };
            $Ptr::new(BtNode { left, right })
        }

        fn bt_count(n: &BtNode) -> u64 {
            match (&n.left, &n.right) {
                (Some(l), Some(r)) => 1 + bt_count(l) + bt_count(r),
                _ => 1,
            }
        }

        #[derive(Default)]
        struct Bt {
            long_lived: Option<$Ptr<BtNode>>,
        }

        impl BinaryTrees for Bt {
            fn churn(&mut self, d: u32) -> u64 {
                bt_count(&bt_build(d))
            }
            fn make_long_lived(&mut self, d: u32) {
                self.long_lived = Some(bt_build(d));
            }
            fn long_lived_count(&mut self) -> u64 {
                bt_count(self.long_lived.as_ref().expect("long-lived tree"))
            }
        }

        #[doc = concat!("binary-trees on ", $name, ".")]
        pub fn binary_trees(args: &binarytrees::Args) -> Result<Measured, String> {
            let (check, wall) = super::timed_lines(|| binarytrees::drive(&mut Bt::default(), args));
            Ok(Measured {
                check,
                wall,
                ..Measured::default()
            })
        }

        // ---- gcbench --------------------------------------------------------------

        fn new_node() -> Node {
            Node {
                left: OnceCell::new(),
                right: OnceCell::new(),
                parent: OnceCell::new(),
                i: 0,
                j: 0,
            }
        }

        fn populate(d: u32, node: &$Ptr<Node>) {
            if d > 0 {
                let l = $Ptr::new(new_node());
                let _ = l.parent.set(node.clone());
                let r = $Ptr::new(new_node());
                let _ = r.parent.set(node.clone());
                populate(d - 1, &l);
                populate(d - 1, &r);
                let _ = node.left.set(l);
                let _ = node.right.set(r);
            }
        }

        fn make_tree(d: u32) -> $Ptr<Node> {
            if d == 0 {
                return $Ptr::new(new_node());
            }
            let l = make_tree(d - 1);
            let r = make_tree(d - 1);
            let n = $Ptr::new(new_node());
            let _ = l.parent.set(n.clone());
            let _ = r.parent.set(n.clone());
            let _ = n.left.set(l);
            let _ = n.right.set(r);
            n
        }

        fn count(n: &Node) -> u64 {
            1 + n.left.get().map_or(0, |l| count(l)) + n.right.get().map_or(0, |r| count(r))
        }

        #[derive(Default)]
        struct Gcb {
            long_lived: Option<$Ptr<Node>>,
            array: Vec<f64>,
            pacer: Pacer,
            pauses: Vec<Duration>,
        }

        impl Gcb {
            /// Drops a counted tree and collects cycles when the pacer says so.
            fn discard(&mut self, t: $Ptr<Node>, nodes: u64) -> u64 {
                drop(t);
                if self.pacer.discarded(nodes) {
                    super::timed(&mut self.pauses, $collect);
                }
                nodes
            }
        }

        impl GcBench for Gcb {
            fn stretch(&mut self, d: u32) -> u64 {
                self.bottom_up(d)
            }
            fn make_long_lived(&mut self, d: u32, array_len: usize) {
                let t = $Ptr::new(new_node());
                populate(d, &t);
                self.pacer.kept(count(&t));
                self.long_lived = Some(t);
                self.array = (0..array_len)
                    .map(|i| gcbench::array_value(i, array_len))
                    .collect();
            }
            fn top_down(&mut self, d: u32) -> u64 {
                let t = $Ptr::new(new_node());
                populate(d, &t);
                let n = count(&t);
                self.discard(t, n)
            }
            fn bottom_up(&mut self, d: u32) -> u64 {
                let t = make_tree(d);
                let n = count(&t);
                self.discard(t, n)
            }
            fn long_lived_count(&mut self) -> u64 {
                count(self.long_lived.as_ref().expect("long-lived tree"))
            }
            fn array_get(&mut self, i: usize) -> f64 {
                self.array[i]
            }
        }

        #[doc = concat!("gcbench on ", $name, " (strong parent pointers: every tree is a cycle).")]
        pub fn gcbench(args: &gcbench::Args) -> Result<Measured, String> {
            let mut h = Gcb::default();
            let (check, wall) = super::timed_lines(|| gcbench::drive(&mut h, args));
            Ok(Measured {
                check,
                wall,
                pauses: Pauses::from_samples(&mut h.pauses),
                ..Measured::default()
            })
        }

        // ---- latency --------------------------------------------------------------

        struct Window(Vec<Option<$Ptr<Msg>>>);

        impl Latency for Window {
            #[inline]
            fn push(&mut self, i: u64, slot: usize) {
                self.0[slot] = Some($Ptr::new(Msg {
                    data: [latency::msg_byte(i); MSG_BYTES],
                }));
            }
            fn checksum(&mut self) -> u64 {
                self.0
                    .iter()
                    .flatten()
                    .map(|m| u64::from(m.data[0]) + u64::from(m.data[MSG_BYTES - 1]))
                    .sum()
            }
        }

        #[doc = concat!("latency on ", $name, ".")]
        pub fn latency(args: &latency::Args) -> Result<Measured, String> {
            let d = latency::drive(args, |w| Window((0..w).map(|_| None).collect()));
            Ok(Measured {
                check: d.check,
                wall: d.wall,
                latency: Some(d.latency),
                ..Measured::default()
            })
        }

        // ---- mark -----------------------------------------------------------------

        fn n4_build(d: u32) -> $Ptr<N4> {
            let kids = if d == 0 {
                [None, None, None, None]
            } else {
                std::array::from_fn(|_| Some(n4_build(d - 1)))
            };
            $Ptr::new(N4 {
                kids,
                v: u64::from(d),
            })
        }

        fn n4_count(n: &N4) -> u64 {
            1 + n.kids.iter().flatten().map(|k| n4_count(k)).sum::<u64>()
        }

        #[derive(Default)]
        struct Mk {
            trees: Vec<$Ptr<N4>>,
        }

        impl Mark for Mk {
            fn build(&mut self, depth: u32, copies: u32) {
                for _ in 0..copies {
                    self.trees.push(n4_build(depth));
                }
            }
            fn collect(&mut self) {
                $collect();
            }
            fn count(&mut self) -> u64 {
                self.trees.iter().map(|t| n4_count(t)).sum()
            }
        }

        #[doc = concat!("mark on ", $name, " (its cycle collection).")]
        pub fn mark(args: &mark::Args) -> Result<Measured, String> {
            let mut d = mark::drive(args, Mk::default);
            // Nothing was traced (no count was ever decremented): a marking rate
            // would be meaningless.
            d.stats.mb_per_s = None;
            Ok(Measured {
                check: d.check,
                wall: d.wall,
                mark: Some(d.stats),
                ..Measured::default()
            })
        }
    };
}
