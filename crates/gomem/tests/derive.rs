//! `#[derive(Trace)]`: the constants it computes for every shape of type,
//! checked against the real (rustc-reordered) layouts.
//!
//! `trace` itself needs a `Tracer`, which only the collector can make; here
//! it is only instantiated (through fn pointers) for every shape, and the
//! collector's tests check what it visits.

#![allow(dead_code)]

use std::marker::PhantomData;
use std::mem::{offset_of, size_of};

use gomem::internals::{layout_of, Layout};
use gomem::Tracer;
use gomem::{Member, Trace};

/// Bit of the word at byte offset `off`.
const fn bit(off: usize) -> u64 {
    1 << (off / 8)
}

/// `T::NO_MEMBERS` (a call, so that asserting it is not a constant assert).
fn no_members<T: Trace>() -> bool {
    T::NO_MEMBERS
}

/// `T::MEMBER_WORDS`.
fn words<T: Trace>() -> Option<u64> {
    T::MEMBER_WORDS
}

// ----- structs with named fields ---------------------------------------

#[derive(Trace)]
struct Node {
    left: Member<Node>,
    right: Member<Node>,
}

const _: () = assert!(!Node::NO_MEMBERS);
const _: () = assert!(matches!(Node::MEMBER_WORDS, Some(0b11)));
const _: () = assert!(matches!(layout_of::<Node>(), Layout::Bitmap(0b11)));

#[test]
fn node_is_a_two_word_bitmap() {
    assert!(!no_members::<Node>());
    assert_eq!(words::<Node>(), Some(0b11));
    assert_eq!(layout_of::<Node>(), Layout::Bitmap(0b11));
}

#[derive(Trace)]
struct Mixed {
    a: u64,
    m1: Member<Node>,
    b: u32,
    m2: Member<Mixed>,
}

#[test]
fn mixed_fields_follow_the_real_layout() {
    let want = bit(offset_of!(Mixed, m1)) | bit(offset_of!(Mixed, m2));
    assert_eq!(want.count_ones(), 2);
    assert!(!no_members::<Mixed>());
    assert_eq!(words::<Mixed>(), Some(want));
    assert_eq!(layout_of::<Mixed>(), Layout::Bitmap(want));
}

#[derive(Trace)]
struct Plain {
    id: u32,
    score: i64,
    flag: bool,
    name: String,
}

#[derive(Trace, Clone, Copy)]
struct PlainCopy {
    a: u32,
    b: f64,
    c: [u8; 3],
    d: char,
}

const _: () = assert!(Plain::NO_MEMBERS && PlainCopy::NO_MEMBERS);
const _: () = assert!(matches!(layout_of::<PlainCopy>(), Layout::Noscan));

#[test]
fn plain_structs_are_noscan_unless_they_need_drop() {
    assert!(no_members::<Plain>());
    assert_eq!(words::<Plain>(), Some(0));
    assert_eq!(layout_of::<Plain>(), Layout::Typed, "String needs Drop");
    assert!(no_members::<PlainCopy>());
    assert_eq!(words::<PlainCopy>(), Some(0));
    assert_eq!(layout_of::<PlainCopy>(), Layout::Noscan);
}

/// Members nested in fields (a struct, an array, a tuple struct) land at
/// the field's offset.
#[derive(Trace)]
struct Outer {
    x: u8,
    node: Node,
    arr: [Member<Node>; 3],
    pt: Point,
}

#[test]
fn nested_masks_are_shifted_to_the_field() {
    let node = offset_of!(Outer, node);
    let arr = offset_of!(Outer, arr);
    let pt = offset_of!(Outer, pt);
    let want =
        (0b11 << (node / 8)) | (0b111 << (arr / 8)) | (words::<Point>().unwrap() << (pt / 8));
    assert_eq!(want.count_ones(), 2 + 3 + 2);
    assert_eq!(words::<Outer>(), Some(want));
    assert_eq!(layout_of::<Outer>(), Layout::Bitmap(want));
}

/// A field without a bitmap (an enum holding Members) takes the whole
/// struct's bitmap away.
#[derive(Trace)]
struct HoldsShape {
    m: Member<Node>,
    s: Shape,
}

#[test]
fn a_field_without_bitmap_makes_the_struct_typed() {
    assert!(!no_members::<HoldsShape>());
    assert_eq!(words::<HoldsShape>(), None);
    assert_eq!(layout_of::<HoldsShape>(), Layout::Typed);
}

// ----- tuple and unit structs ------------------------------------------

#[derive(Trace)]
struct Point(Member<Node>, u16, Member<Point>);

#[derive(Trace)]
struct Unit;

#[derive(Trace)]
struct EmptyBraced {}

#[derive(Trace)]
struct EmptyTuple();

#[test]
fn tuple_structs_use_field_indices() {
    let want = bit(offset_of!(Point, 0)) | bit(offset_of!(Point, 2));
    assert!(!no_members::<Point>());
    assert_eq!(words::<Point>(), Some(want));
    assert_eq!(layout_of::<Point>(), Layout::Bitmap(want));
}

#[test]
fn unit_and_empty_structs_are_noscan() {
    assert!(no_members::<Unit>() && no_members::<EmptyBraced>() && no_members::<EmptyTuple>());
    assert_eq!(words::<Unit>(), Some(0));
    assert_eq!(words::<EmptyBraced>(), Some(0));
    assert_eq!(words::<EmptyTuple>(), Some(0));
    assert_eq!(layout_of::<Unit>(), Layout::Noscan);
    assert_eq!(layout_of::<EmptyTuple>(), Layout::Noscan);
}

// ----- large structs -----------------------------------------------------

#[derive(Trace)]
struct Big {
    pad: [u64; 64],
    m: Member<Node>,
}

#[derive(Trace, Clone, Copy)]
struct BigPlain {
    pad: [u64; 100],
}

#[test]
fn structs_over_512_bytes_have_no_bitmap() {
    assert!(size_of::<Big>() > 512);
    assert!(!no_members::<Big>());
    assert_eq!(words::<Big>(), None);
    assert_eq!(layout_of::<Big>(), Layout::Typed);
    assert!(no_members::<BigPlain>());
    assert_eq!(words::<BigPlain>(), None);
    assert_eq!(layout_of::<BigPlain>(), Layout::Noscan);
}

// ----- generics ------------------------------------------------------------

#[derive(Trace)]
struct Pair<T> {
    a: Member<T>,
    b: T,
}

#[test]
fn generic_struct_masks_depend_on_the_instance() {
    let a = offset_of!(Pair<u64>, a);
    assert!(!no_members::<Pair<u64>>());
    assert_eq!(words::<Pair<u64>>(), Some(bit(a)));
    assert_eq!(layout_of::<Pair<u64>>(), Layout::Bitmap(bit(a)));

    let want = bit(offset_of!(Pair<Member<u64>>, a)) | bit(offset_of!(Pair<Member<u64>>, b));
    assert_eq!(want, 0b11);
    assert_eq!(words::<Pair<Member<u64>>>(), Some(want));
    assert_eq!(layout_of::<Pair<Member<u64>>>(), Layout::Bitmap(want));

    // A generic field without a bitmap, and one that needs Drop.
    assert_eq!(words::<Pair<Shape>>(), None);
    assert_eq!(layout_of::<Pair<Shape>>(), Layout::Typed);
    assert_eq!(layout_of::<Pair<String>>(), Layout::Typed);
}

/// A recursive generic type (the where clause must not require itself).
#[derive(Trace)]
struct List<T> {
    value: T,
    next: Member<List<T>>,
}

/// Existing bounds and where clauses, lifetimes and const generics.
#[derive(Trace)]
struct Fancy<'a, T: Copy, const N: usize>
where
    T: Default,
{
    ms: [Member<T>; N],
    t: T,
    _p: PhantomData<&'a T>,
}

#[test]
fn generics_with_bounds_lifetimes_and_consts() {
    assert_eq!(words::<List<u32>>(), Some(bit(offset_of!(List<u32>, next))));
    type F = Fancy<'static, u64, 2>;
    let ms = offset_of!(F, ms);
    assert_eq!(words::<F>(), Some(0b11 << (ms / 8)));
    assert!(!no_members::<Fancy<'static, u8, 0>>());
}

/// `#[gomem(bound = ...)]` replaces the inferred bounds.
#[derive(Trace)]
#[gomem(bound = "T: Trace")]
struct Bounded<T> {
    t: T,
    m: Member<Bounded<T>>,
}

#[test]
fn explicit_bound() {
    assert!(!no_members::<Bounded<u8>>());
    assert!(words::<Bounded<u8>>().is_some());
}

// ----- enums -----------------------------------------------------------------

#[derive(Trace)]
enum Shape {
    Empty,
    One(Member<Node>),
    Two(Member<Node>, u32),
    Named { x: u64, m: Member<Shape> },
}

#[derive(Trace, Clone, Copy)]
enum Color {
    Red,
    Rgb(u8, u8, u8),
    Named { id: u32 },
}

#[derive(Trace)]
enum Never {}

#[derive(Trace)]
enum Either<A, B> {
    Left(A),
    Right { b: B },
}

#[test]
fn enums_with_members_are_typed() {
    assert!(!no_members::<Shape>());
    assert_eq!(words::<Shape>(), None);
    assert_eq!(layout_of::<Shape>(), Layout::Typed);
}

#[test]
fn plain_enums_are_noscan() {
    assert!(no_members::<Color>());
    assert_eq!(words::<Color>(), Some(0));
    assert_eq!(layout_of::<Color>(), Layout::Noscan);
    assert!(no_members::<Never>());
    assert_eq!(layout_of::<Never>(), Layout::Noscan);
}

#[test]
fn generic_enums() {
    assert!(no_members::<Either<u8, u64>>());
    assert_eq!(layout_of::<Either<u8, u64>>(), Layout::Noscan);
    assert!(!no_members::<Either<u8, Member<u8>>>());
    assert_eq!(words::<Either<Member<u8>, u8>>(), None);
    assert_eq!(layout_of::<Either<Member<u8>, u8>>(), Layout::Typed);
}

// ----- #[gomem(skip)] and #[repr(packed)] --------------------------------

#[derive(Trace)]
struct WithSkip {
    m: Member<Node>,
    #[gomem(skip)]
    hits: u64,
}

#[derive(Trace)]
struct GenericSkip<T> {
    #[gomem(skip)]
    t: T,
    m: Member<u8>,
}

#[derive(Trace)]
enum EnumSkip {
    A(#[gomem(skip)] u64, Member<Node>),
    B {
        #[gomem(skip)]
        s: String,
    },
}

#[derive(Trace, Clone, Copy)]
#[repr(C, packed)]
struct Packed {
    tag: u8,
    value: u64,
}

#[test]
fn skipped_plain_fields_and_packed_structs() {
    let m = offset_of!(WithSkip, m);
    assert_eq!(words::<WithSkip>(), Some(bit(m)));
    assert_eq!(layout_of::<WithSkip>(), Layout::Bitmap(bit(m)));
    let m = offset_of!(GenericSkip<u32>, m);
    assert_eq!(words::<GenericSkip<u32>>(), Some(bit(m)));
    assert!(!no_members::<EnumSkip>());
    assert_eq!(layout_of::<EnumSkip>(), Layout::Typed);
    assert!(no_members::<Packed>());
    assert_eq!(size_of::<Packed>(), 9);
    assert_eq!(layout_of::<Packed>(), Layout::Noscan);
}

// ----- trace compiles (and monomorphises) for every shape -------------------

type TraceFn<T> = fn(&T, &mut Tracer<'_>);

#[test]
fn trace_is_generated_for_every_shape() {
    let fns: [usize; 26] = [
        <Node as Trace>::trace as TraceFn<Node> as usize,
        <Mixed as Trace>::trace as TraceFn<Mixed> as usize,
        <Plain as Trace>::trace as TraceFn<Plain> as usize,
        <PlainCopy as Trace>::trace as TraceFn<PlainCopy> as usize,
        <Outer as Trace>::trace as TraceFn<Outer> as usize,
        <HoldsShape as Trace>::trace as TraceFn<HoldsShape> as usize,
        <Point as Trace>::trace as TraceFn<Point> as usize,
        <Unit as Trace>::trace as TraceFn<Unit> as usize,
        <EmptyBraced as Trace>::trace as TraceFn<EmptyBraced> as usize,
        <EmptyTuple as Trace>::trace as TraceFn<EmptyTuple> as usize,
        <Big as Trace>::trace as TraceFn<Big> as usize,
        <BigPlain as Trace>::trace as TraceFn<BigPlain> as usize,
        <Pair<u64> as Trace>::trace as TraceFn<Pair<u64>> as usize,
        <Pair<Member<u64>> as Trace>::trace as TraceFn<Pair<Member<u64>>> as usize,
        <List<u8> as Trace>::trace as TraceFn<List<u8>> as usize,
        <Fancy<'static, u64, 2> as Trace>::trace as TraceFn<Fancy<'static, u64, 2>> as usize,
        <Bounded<u8> as Trace>::trace as TraceFn<Bounded<u8>> as usize,
        <Shape as Trace>::trace as TraceFn<Shape> as usize,
        <Color as Trace>::trace as TraceFn<Color> as usize,
        <Never as Trace>::trace as TraceFn<Never> as usize,
        <Either<u8, Member<u8>> as Trace>::trace as TraceFn<Either<u8, Member<u8>>> as usize,
        <WithSkip as Trace>::trace as TraceFn<WithSkip> as usize,
        <GenericSkip<u32> as Trace>::trace as TraceFn<GenericSkip<u32>> as usize,
        <EnumSkip as Trace>::trace as TraceFn<EnumSkip> as usize,
        <Packed as Trace>::trace as TraceFn<Packed> as usize,
        <[Node; 2] as Trace>::trace as TraceFn<[Node; 2]> as usize,
    ];
    assert!(fns.iter().all(|&f| f != 0));
}
