//! Size classes: how a small allocation request becomes a slot in a span.
//!
//! # Size classes
//!
//! Every allocation of at most [`MAX_SMALL_SIZE`] bytes is rounded up to one
//! of Go's 67 size classes (numbered 1..=67; class 0 stands for "large",
//! i.e. an object that gets a dedicated run of pages). Each class fixes two
//! numbers: the bytes per object ([`CLASS_TO_SIZE`]) and the pages per span
//! ([`CLASS_TO_NPAGES`]). A span of class `c` is `CLASS_TO_NPAGES[c]` runtime
//! pages of [`PAGE_SIZE`] bytes carved into equal slots of
//! `CLASS_TO_SIZE[c]` bytes. The numbers are Go's (`mksizeclasses` output)
//! and are treated as the specification; the unit tests regenerate them from
//! Go's generation rule and check them against the reference table.
//!
//! The generation rule bounds each kind of waste at 12.5%: the slot
//! alignment grows with the size (8 B, then 16 B from 32 B, size/8 from
//! 128 B, 256 B from 2 KiB) so round-up waste stays ≤ 1/8, and each class
//! uses the fewest pages that keep the unusable span tail ≤ 1/8 of the span.
//!
//! # Span classes
//!
//! A [`SpanClass`] is a size class paired with a "noscan" bit:
//! `size_class << 1 | noscan`, giving [`NUM_SPAN_CLASSES`] = 136 values.
//! Objects that contain no pointers live in noscan spans and are never
//! scanned by the collector; objects with pointers live in scan spans. Each
//! span class has its own cached span per P and its own central list, so the
//! two kinds never share a span.
//!
//! # Lookup tables
//!
//! [`size_to_class`] is one comparison and one table load. Requests up to
//! 1024 B index [`SIZE_TO_CLASS_8`] by `ceil(size / 8)`; larger requests
//! index [`SIZE_TO_CLASS_128`] by `ceil((size - 1024) / 128)`. This is exact
//! because every class size is a multiple of 8, and every class size above
//! 1024 B is a multiple of 128, so all sizes that share a table slot share a
//! class. Both tables are computed from the class table at compile time.
//!
//! # Division magic
//!
//! Turning an offset inside a span into an object index needs a division by
//! the object size. [`CLASS_TO_DIV_MAGIC`] holds `m = ⌊(2³² − 1) / size⌋ + 1`
//! (`2³² / size` rounded up), and [`object_index`] computes
//! `(offset · m) >> 32`. Write `m = (2³² + e) / size` with `0 ≤ e < size`
//! and `offset = q · size + r` with `r < size`. Then
//! `offset · m / 2³² = q + r / size + offset · e / (size · 2³²)`. The last
//! term is below `1 / size` whenever `offset · e < 2³²`, which holds because
//! spans are at most 10 pages (`offset < 80 KiB < 2¹⁷`) and
//! `e < size ≤ 32 KiB = 2¹⁵`. Since `r / size ≤ (size − 1) / size`, the
//! fractional part never reaches 1 and the shift yields exactly `q`. A unit
//! test also checks this exhaustively for every class.
//!
//! # Objects per span and the heap-bits tail
//!
//! Scan spans whose objects are at most [`MAX_HEAP_BITS_OBJECT_SIZE`] (512 B)
//! bytes keep their pointer bitmap inside the span: the last
//! [`HEAP_BITS_BYTES`] (128 B) of their single page hold one bit per 8-byte
//! word of the 8 KiB page. Those spans therefore hold
//! `⌊(8192 − 128) / size⌋` objects. Noscan spans, and every span of a class
//! above 512 B, hold `span_bytes / size` objects (larger pointerful objects
//! carry an 8-byte type header in the slot instead). This is Go's layout
//! without the Green Tea collector: we do not reserve a second 128 B for
//! inline mark bits. See [`class_nelems`].

use std::fmt::Write as _;

/// log2 of the runtime page size (Go `_PageShift`).
pub const PAGE_SHIFT: usize = 13;
/// Runtime page size in bytes: 8 KiB (Go `_PageSize`). Spans are whole pages.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Largest size-class object in bytes: 32 KiB (Go `_MaxSmallSize`).
pub const MAX_SMALL_SIZE: usize = 32 << 10;
/// Number of size classes including class 0 = large (Go `_NumSizeClasses`).
pub const NUM_SIZE_CLASSES: usize = 68;
/// Number of span classes: each size class × {scan, noscan} (Go `numSpanClasses`).
pub const NUM_SPAN_CLASSES: usize = NUM_SIZE_CLASSES * 2;
/// Tiny-allocator block size in bytes (Go `_TinySize`).
pub const TINY_SIZE: usize = 16;
/// Size class of the 16 B tiny blocks (Go `_TinySizeClass`).
pub const TINY_SIZE_CLASS: u8 = 2;
/// Most objects any span holds: 8 KiB / 8 B (Go `MaxObjsPerSpan`; the
/// table tests check it).
#[cfg(test)]
pub const MAX_OBJS_PER_SPAN: usize = 1024;
/// Most pages any size-class span uses: the 27264 B class (Go
/// `MaxSizeClassNPages`; the table tests check it).
#[cfg(test)]
pub const MAX_CLASS_NPAGES: usize = 10;
/// Bytes at the end of a one-page scan span holding its pointer bitmap:
/// one bit per 8-byte word of the 8 KiB page (Go: `PageSize / PtrSize / 8`).
pub const HEAP_BITS_BYTES: usize = 128;
/// Largest object size in bytes whose scan spans keep the bitmap in the
/// span tail (Go `MinSizeForMallocHeader`, exclusive bound for headers).
pub const MAX_HEAP_BITS_OBJECT_SIZE: usize = 512;

/// Granularity in bytes of [`SIZE_TO_CLASS_8`] (Go `smallSizeDiv`).
const SMALL_SIZE_DIV: usize = 8;
/// Largest request in bytes served by [`SIZE_TO_CLASS_8`] (Go `smallSizeMax`).
const SMALL_SIZE_MAX: usize = 1024;
/// Granularity in bytes of [`SIZE_TO_CLASS_128`] (Go `largeSizeDiv`).
const LARGE_SIZE_DIV: usize = 128;
/// Entries in [`SIZE_TO_CLASS_8`]: indices 0..=1024/8.
const SIZE_TO_CLASS_8_LEN: usize = SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1;
/// Entries in [`SIZE_TO_CLASS_128`]: indices 0..=(32768-1024)/128.
const SIZE_TO_CLASS_128_LEN: usize = (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1;

/// Go's class table: (bytes per object, pages per span), indexed by class.
const CLASS_INFO: [(u32, u8); NUM_SIZE_CLASSES] = [
    (0, 0), // 0: large objects get their own pages
    (8, 1),
    (16, 1),
    (24, 1),
    (32, 1),
    (48, 1), // 5
    (64, 1),
    (80, 1),
    (96, 1),
    (112, 1),
    (128, 1), // 10
    (144, 1),
    (160, 1),
    (176, 1),
    (192, 1),
    (208, 1), // 15
    (224, 1),
    (240, 1),
    (256, 1),
    (288, 1),
    (320, 1), // 20
    (352, 1),
    (384, 1),
    (416, 1),
    (448, 1),
    (480, 1), // 25
    (512, 1),
    (576, 1),
    (640, 1),
    (704, 1),
    (768, 1), // 30
    (896, 1),
    (1024, 1),
    (1152, 1),
    (1280, 1),
    (1408, 2), // 35
    (1536, 1),
    (1792, 2),
    (2048, 1),
    (2304, 2),
    (2688, 1), // 40
    (3072, 3),
    (3200, 2),
    (3456, 3),
    (4096, 1),
    (4864, 3), // 45
    (5376, 2),
    (6144, 3),
    (6528, 4),
    (6784, 5),
    (6912, 6), // 50
    (8192, 1),
    (9472, 7),
    (9728, 6),
    (10240, 5),
    (10880, 4), // 55
    (12288, 3),
    (13568, 5),
    (14336, 7),
    (16384, 2),
    (18432, 9), // 60
    (19072, 7),
    (20480, 5),
    (21760, 8),
    (24576, 3),
    (27264, 10), // 65
    (28672, 7),
    (32768, 4), // 67
];

/// Compile-time copy of [`CLASS_TO_SIZE`] (statics cannot be read in const fns).
const SIZES: [u32; NUM_SIZE_CLASSES] = size_column();
/// Compile-time copy of [`CLASS_TO_NPAGES`].
const NPAGES: [u8; NUM_SIZE_CLASSES] = npages_column();

/// Bytes per object for each size class (0 for class 0).
pub static CLASS_TO_SIZE: [u32; NUM_SIZE_CLASSES] = SIZES;
/// Pages (of [`PAGE_SIZE`] bytes) per span for each size class (0 for class 0).
pub static CLASS_TO_NPAGES: [u8; NUM_SIZE_CLASSES] = NPAGES;
/// Division magic per size class: `⌊(2³² − 1) / size⌋ + 1`, 0 for class 0.
/// Use with [`object_index`].
pub static CLASS_TO_DIV_MAGIC: [u32; NUM_SIZE_CLASSES] = div_magic_column();
/// Size class for requests of up to 1024 B, indexed by `ceil(size / 8)`.
pub static SIZE_TO_CLASS_8: [u8; SIZE_TO_CLASS_8_LEN] = size_to_class_table(0, SMALL_SIZE_DIV);
/// Size class for requests of 1025..=32768 B, indexed by
/// `ceil((size - 1024) / 128)`.
pub static SIZE_TO_CLASS_128: [u8; SIZE_TO_CLASS_128_LEN] =
    size_to_class_table(SMALL_SIZE_MAX, LARGE_SIZE_DIV);

// The bitmap covers every 8-byte word of a page, and every class that keeps
// its bitmap in the span tail uses a single page.
const _: () = assert!(HEAP_BITS_BYTES * 8 * 8 == PAGE_SIZE);
const _: () = assert!(small_classes_are_single_page());
const _: () = assert!(SIZES[TINY_SIZE_CLASS as usize] as usize == TINY_SIZE);
const _: () = assert!(SIZES[NUM_SIZE_CLASSES - 1] as usize == MAX_SMALL_SIZE);

const fn size_column() -> [u32; NUM_SIZE_CLASSES] {
    let mut col = [0; NUM_SIZE_CLASSES];
    let mut c = 0;
    while c < NUM_SIZE_CLASSES {
        col[c] = CLASS_INFO[c].0;
        c += 1;
    }
    col
}

const fn npages_column() -> [u8; NUM_SIZE_CLASSES] {
    let mut col = [0; NUM_SIZE_CLASSES];
    let mut c = 0;
    while c < NUM_SIZE_CLASSES {
        col[c] = CLASS_INFO[c].1;
        c += 1;
    }
    col
}

const fn div_magic_column() -> [u32; NUM_SIZE_CLASSES] {
    let mut col = [0; NUM_SIZE_CLASSES];
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        col[c] = u32::MAX / SIZES[c] + 1;
        c += 1;
    }
    col
}

/// Builds a lookup table whose entry `i` is the smallest class holding
/// `base + i * step` bytes. Fails to compile if a size exceeds every class.
const fn size_to_class_table<const LEN: usize>(base: usize, step: usize) -> [u8; LEN] {
    let mut table = [0; LEN];
    let mut class = 1;
    let mut i = 0;
    while i < LEN {
        let size = base + i * step;
        while (SIZES[class] as usize) < size {
            class += 1;
        }
        table[i] = class as u8;
        i += 1;
    }
    table
}

const fn small_classes_are_single_page() -> bool {
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        if SIZES[c] as usize <= MAX_HEAP_BITS_OBJECT_SIZE && NPAGES[c] != 1 {
            return false;
        }
        c += 1;
    }
    true
}

/// Smallest size class whose objects hold `size` bytes.
///
/// Valid for `1 <= size <= MAX_SMALL_SIZE`; `size == 0` maps to class 1 (8 B).
/// Larger sizes are a caller bug (debug-asserted; they index out of bounds
/// in release builds).
#[inline]
pub fn size_to_class(size: usize) -> u8 {
    debug_assert!(size <= MAX_SMALL_SIZE, "size {size} B is not a small size");
    if size <= SMALL_SIZE_MAX {
        SIZE_TO_CLASS_8[size.div_ceil(SMALL_SIZE_DIV)]
    } else {
        SIZE_TO_CLASS_128[(size - SMALL_SIZE_MAX).div_ceil(LARGE_SIZE_DIV)]
    }
}

/// A size class plus the noscan bit, encoded as `size_class << 1 | noscan`.
///
/// Noscan (odd) span classes hold pointer-free objects; scan (even) span
/// classes hold objects the collector must scan.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub struct SpanClass(pub u8);

impl SpanClass {
    /// Large objects containing pointers (size class 0, scan).
    #[cfg(test)]
    pub const LARGE_SCAN: SpanClass = SpanClass::new(0, false);
    /// Large pointer-free objects (size class 0, noscan).
    #[cfg(test)]
    pub const LARGE_NOSCAN: SpanClass = SpanClass::new(0, true);
    /// Span class of the tiny allocator's 16 B blocks (class 2, noscan) = 5.
    pub const TINY: SpanClass = SpanClass::new(TINY_SIZE_CLASS, true);

    /// Combines a size class (`< NUM_SIZE_CLASSES`) and the noscan bit.
    pub const fn new(size_class: u8, noscan: bool) -> Self {
        debug_assert!((size_class as usize) < NUM_SIZE_CLASSES);
        SpanClass((size_class << 1) | noscan as u8)
    }

    /// The size class (0 = large).
    pub const fn size_class(self) -> u8 {
        self.0 >> 1
    }

    /// Whether objects of this span class are pointer-free.
    pub const fn noscan(self) -> bool {
        self.0 & 1 != 0
    }

    /// Index into per-span-class arrays (`0..NUM_SPAN_CLASSES`).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Bytes of one span of `size_class` (`size_class >= 1`).
const fn span_bytes(size_class: usize) -> usize {
    NPAGES[size_class] as usize * PAGE_SIZE
}

/// Bytes a span reserves at its tail for the pointer bitmap.
const fn heap_bits_reserve(object_size: usize, noscan: bool) -> usize {
    if !noscan && object_size <= MAX_HEAP_BITS_OBJECT_SIZE {
        HEAP_BITS_BYTES
    } else {
        0
    }
}

/// Objects per span actually available to the allocator.
///
/// Scan spans of classes up to 512 B lose their last [`HEAP_BITS_BYTES`] to
/// the pointer bitmap: `(npages · 8192 − 128) / size`. All other spans hold
/// `npages · 8192 / size`. Class 0 (a large span) holds exactly one object.
pub const fn class_nelems(size_class: u8, noscan: bool) -> usize {
    let c = size_class as usize;
    if c == 0 {
        return 1;
    }
    let size = SIZES[c] as usize;
    (span_bytes(c) - heap_bits_reserve(size, noscan)) / size
}

/// [`class_nelems`] for a span class.
pub const fn span_class_nelems(sc: SpanClass) -> usize {
    class_nelems(sc.size_class(), sc.noscan())
}

/// Index of the object containing byte `offset` of a span, computed as
/// `(offset · div_magic) >> 32` with a value from [`CLASS_TO_DIV_MAGIC`].
///
/// Equals `offset / size` for every `offset < npages · PAGE_SIZE` of the class.
#[inline]
pub fn object_index(offset: usize, div_magic: u32) -> usize {
    ((offset as u64 * div_magic as u64) >> 32) as usize
}

/// One row of the class table as Go's generator reports it.
struct ClassRow {
    size: usize,
    span_bytes: usize,
    objects: usize,
    tail_waste: usize,
    max_waste_pct: f64,
}

impl ClassRow {
    /// Statistics of `class`, given the object size of the class below it.
    fn new(class: usize, prev_size: usize) -> Self {
        let size = SIZES[class] as usize;
        let span_bytes = span_bytes(class);
        let objects = span_bytes / size;
        let tail_waste = span_bytes - objects * size;
        // Worst case: every slot holds an object 1 B larger than the class below.
        let worst = (size - prev_size - 1) * objects + tail_waste;
        let max_waste_pct = 100.0 * (worst as f64 / span_bytes as f64);
        ClassRow {
            size,
            span_bytes,
            objects,
            tail_waste,
            max_waste_pct,
        }
    }
}

/// The class table as tab-separated text: a header line, then one line per
/// class 1..=67 with bytes/object, bytes/span, objects/span (`span / size`,
/// ignoring the heap-bits tail), tail waste in bytes and the worst-case
/// waste percentage (2 decimals), matching Go's generated table comment.
pub fn table_tsv() -> String {
    let mut out =
        String::from("class\tbytes_per_obj\tbytes_per_span\tobjects\ttail_waste\tmax_waste_pct\n");
    let mut prev_size = 0;
    for class in 1..NUM_SIZE_CLASSES {
        let row = ClassRow::new(class, prev_size);
        writeln!(
            out,
            "{class}\t{}\t{}\t{}\t{}\t{:.2}",
            row.size, row.span_bytes, row.objects, row.tail_waste, row.max_waste_pct
        )
        .expect("writing to a String cannot fail");
        prev_size = row.size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alignment step to use from `size` on, per Go's generator: it changes
    /// only at powers of two (16 B from 32, size/8 from 128, 256 B from 2048).
    fn next_align(size: usize, align: usize) -> usize {
        if !size.is_power_of_two() {
            align
        } else if size >= 2048 {
            256
        } else if size >= 128 {
            size / 8
        } else if size >= 32 {
            16
        } else {
            align
        }
    }

    /// Fewest pages whose span leaves a tail of at most 1/8 of the span.
    fn pages_for(size: usize) -> usize {
        let mut span = PAGE_SIZE;
        while span % size > span / 8 {
            span += PAGE_SIZE;
        }
        span / PAGE_SIZE
    }

    /// Largest multiple of 128 that keeps the class's object count.
    fn bump_size(size: usize, npages: usize) -> usize {
        let span = npages * PAGE_SIZE;
        let bumped = (span / (span / size)) & !(LARGE_SIZE_DIV - 1);
        bumped.max(size)
    }

    /// Go's generation rule: (size, npages) for classes 1..=67.
    fn generate_classes() -> Vec<(usize, usize)> {
        let mut classes: Vec<(usize, usize)> = Vec::new();
        let mut align = 8;
        let mut size = align;
        while size <= MAX_SMALL_SIZE {
            align = next_align(size, align);
            let npages = pages_for(size);
            let span = npages * PAGE_SIZE;
            match classes.last_mut() {
                Some(last) if last.1 == npages && span / last.0 == span / size => last.0 = size,
                _ => classes.push((size, npages)),
            }
            size += align;
        }
        for class in &mut classes {
            class.0 = bump_size(class.0, class.1);
        }
        classes
    }

    #[test]
    fn generator_reproduces_class_table() {
        let generated = generate_classes();
        assert_eq!(generated.len(), NUM_SIZE_CLASSES - 1);
        for (i, &(size, npages)) in generated.iter().enumerate() {
            let class = i + 1;
            assert_eq!(CLASS_TO_SIZE[class] as usize, size, "size of class {class}");
            assert_eq!(
                CLASS_TO_NPAGES[class] as usize, npages,
                "pages of class {class}"
            );
        }
        assert_eq!((CLASS_TO_SIZE[0], CLASS_TO_NPAGES[0]), (0, 0));
    }

    /// The reference table (go-runtime-facts.md §1): class, bytes/object,
    /// pages/span, objects/span, tail waste bytes, max waste %.
    const REFERENCE: [(usize, usize, usize, usize, usize, &str); 67] = [
        (1, 8, 1, 1024, 0, "87.50"),
        (2, 16, 1, 512, 0, "43.75"),
        (3, 24, 1, 341, 8, "29.24"),
        (4, 32, 1, 256, 0, "21.88"),
        (5, 48, 1, 170, 32, "31.52"),
        (6, 64, 1, 128, 0, "23.44"),
        (7, 80, 1, 102, 32, "19.07"),
        (8, 96, 1, 85, 32, "15.95"),
        (9, 112, 1, 73, 16, "13.56"),
        (10, 128, 1, 64, 0, "11.72"),
        (11, 144, 1, 56, 128, "11.82"),
        (12, 160, 1, 51, 32, "9.73"),
        (13, 176, 1, 46, 96, "9.59"),
        (14, 192, 1, 42, 128, "9.25"),
        (15, 208, 1, 39, 80, "8.12"),
        (16, 224, 1, 36, 128, "8.15"),
        (17, 240, 1, 34, 32, "6.62"),
        (18, 256, 1, 32, 0, "5.86"),
        (19, 288, 1, 28, 128, "12.16"),
        (20, 320, 1, 25, 192, "11.80"),
        (21, 352, 1, 23, 96, "9.88"),
        (22, 384, 1, 21, 128, "9.51"),
        (23, 416, 1, 19, 288, "10.71"),
        (24, 448, 1, 18, 128, "8.37"),
        (25, 480, 1, 17, 32, "6.82"),
        (26, 512, 1, 16, 0, "6.05"),
        (27, 576, 1, 14, 128, "12.33"),
        (28, 640, 1, 12, 512, "15.48"),
        (29, 704, 1, 11, 448, "13.93"),
        (30, 768, 1, 10, 512, "13.94"),
        (31, 896, 1, 9, 128, "15.52"),
        (32, 1024, 1, 8, 0, "12.40"),
        (33, 1152, 1, 7, 128, "12.41"),
        (34, 1280, 1, 6, 512, "15.55"),
        (35, 1408, 2, 11, 896, "14.00"),
        (36, 1536, 1, 5, 512, "14.00"),
        (37, 1792, 2, 9, 256, "15.57"),
        (38, 2048, 1, 4, 0, "12.45"),
        (39, 2304, 2, 7, 256, "12.46"),
        (40, 2688, 1, 3, 128, "15.59"),
        (41, 3072, 3, 8, 0, "12.47"),
        (42, 3200, 2, 5, 384, "6.22"),
        (43, 3456, 3, 7, 384, "8.83"),
        (44, 4096, 1, 2, 0, "15.60"),
        (45, 4864, 3, 5, 256, "16.65"),
        (46, 5376, 2, 3, 256, "10.92"),
        (47, 6144, 3, 4, 0, "12.48"),
        (48, 6528, 4, 5, 128, "6.23"),
        (49, 6784, 5, 6, 256, "4.36"),
        (50, 6912, 6, 7, 768, "3.37"),
        (51, 8192, 1, 1, 0, "15.61"),
        (52, 9472, 7, 6, 512, "14.28"),
        (53, 9728, 6, 5, 512, "3.64"),
        (54, 10240, 5, 4, 0, "4.99"),
        (55, 10880, 4, 3, 128, "6.24"),
        (56, 12288, 3, 2, 0, "11.45"),
        (57, 13568, 5, 3, 256, "9.99"),
        (58, 14336, 7, 4, 0, "5.35"),
        (59, 16384, 2, 1, 0, "12.49"),
        (60, 18432, 9, 4, 0, "11.11"),
        (61, 19072, 7, 3, 128, "3.57"),
        (62, 20480, 5, 2, 0, "6.87"),
        (63, 21760, 8, 3, 256, "6.25"),
        (64, 24576, 3, 1, 0, "11.45"),
        (65, 27264, 10, 3, 128, "10.00"),
        (66, 28672, 7, 2, 0, "4.91"),
        (67, 32768, 4, 1, 0, "12.50"),
    ];

    #[test]
    fn table_tsv_matches_reference() {
        let tsv = table_tsv();
        let mut lines = tsv.lines();
        assert_eq!(
            lines.next(),
            Some("class\tbytes_per_obj\tbytes_per_span\tobjects\ttail_waste\tmax_waste_pct")
        );
        for &(class, size, pages, objects, tail, pct) in &REFERENCE {
            let span = pages * PAGE_SIZE;
            let expected = format!("{class}\t{size}\t{span}\t{objects}\t{tail}\t{pct}");
            assert_eq!(lines.next(), Some(expected.as_str()), "class {class}");
        }
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn size_to_class_matches_linear_scan() {
        for size in 1..=MAX_SMALL_SIZE {
            let expected = (1..NUM_SIZE_CLASSES)
                .find(|&c| CLASS_TO_SIZE[c] as usize >= size)
                .unwrap();
            assert_eq!(size_to_class(size) as usize, expected, "size {size}");
        }
        assert_eq!(size_to_class(0), 1);
    }

    #[test]
    fn div_magic_is_exact_for_every_span_offset() {
        assert_eq!(CLASS_TO_DIV_MAGIC[0], 0);
        for class in 1..NUM_SIZE_CLASSES {
            let size = CLASS_TO_SIZE[class] as usize;
            let magic = CLASS_TO_DIV_MAGIC[class];
            assert_eq!(magic, (u32::MAX / size as u32) + 1);
            for offset in 0..span_bytes(class) {
                assert_eq!(object_index(offset, magic), offset / size, "class {class}");
            }
        }
    }

    fn nelems_for_size(size: u32, noscan: bool) -> usize {
        let class = size_to_class(size as usize);
        assert_eq!(CLASS_TO_SIZE[class as usize], size);
        class_nelems(class, noscan)
    }

    #[test]
    fn class_nelems_spot_checks() {
        // Without Green Tea inline mark bits: scan spans ≤ 512 B hold
        // ⌊8064 / size⌋ objects (Green Tea would give 496 / 330 for 16 / 24 B).
        assert_eq!(nelems_for_size(8, false), 1008);
        assert_eq!(nelems_for_size(8, true), 1024);
        assert_eq!(nelems_for_size(16, false), 504);
        assert_eq!(nelems_for_size(16, true), 512);
        assert_eq!(nelems_for_size(24, false), 336);
        assert_eq!(nelems_for_size(24, true), 341);
        assert_eq!(nelems_for_size(512, false), 15);
        assert_eq!(nelems_for_size(512, true), 16);
        assert_eq!(nelems_for_size(576, false), 14);
        assert_eq!(nelems_for_size(576, true), 14);
        assert_eq!(class_nelems(0, false), 1);
        assert_eq!(span_class_nelems(SpanClass::TINY), 512);
    }

    #[test]
    fn objects_and_heap_bits_fit_the_span() {
        let mut max_objs = 0;
        for class in 1..NUM_SIZE_CLASSES as u8 {
            let size = CLASS_TO_SIZE[class as usize] as usize;
            let span = span_bytes(class as usize);
            for noscan in [false, true] {
                let n = class_nelems(class, noscan);
                let bitmap = heap_bits_reserve(size, noscan);
                assert!(n * size + bitmap <= span, "class {class} noscan {noscan}");
                // No room is wasted: one more object would not fit.
                assert!(
                    (n + 1) * size + bitmap > span,
                    "class {class} noscan {noscan}"
                );
                assert_eq!(n, span_class_nelems(SpanClass::new(class, noscan)));
                max_objs = max_objs.max(n);
            }
        }
        assert_eq!(max_objs, MAX_OBJS_PER_SPAN);
        let max_pages = CLASS_TO_NPAGES.iter().copied().max().unwrap() as usize;
        assert_eq!(max_pages, MAX_CLASS_NPAGES);
    }

    #[test]
    fn class_sizes_are_aligned() {
        // (minimum size, required alignment) from Go's generator comment.
        let rules = [
            (0, 8),
            (32, 16),
            (256, 32),
            (512, 64),
            (768, 128),
            (28672, 4096),
        ];
        for &size in &CLASS_TO_SIZE[1..] {
            let size = size as usize;
            for &(min, align) in &rules {
                if size >= min {
                    assert_eq!(size % align, 0, "{size} B is not {align}-aligned");
                }
            }
        }
        // From 16 B on every class is 16-aligned, except the 24 B class.
        let odd: Vec<u32> = CLASS_TO_SIZE[1..]
            .iter()
            .copied()
            .filter(|&s| s >= 16 && s % 16 != 0)
            .collect();
        assert_eq!(odd, [24]);
        assert_eq!(CLASS_TO_SIZE[NUM_SIZE_CLASSES - 1] as usize % PAGE_SIZE, 0);
    }

    #[test]
    fn span_class_encoding() {
        assert_eq!(SpanClass::TINY, SpanClass(5));
        assert_eq!(SpanClass::LARGE_SCAN, SpanClass(0));
        assert_eq!(SpanClass::LARGE_NOSCAN, SpanClass(1));
        for class in 0..NUM_SIZE_CLASSES as u8 {
            for noscan in [false, true] {
                let sc = SpanClass::new(class, noscan);
                assert_eq!((sc.size_class(), sc.noscan()), (class, noscan));
                assert!(sc.index() < NUM_SPAN_CLASSES);
            }
        }
    }
}
