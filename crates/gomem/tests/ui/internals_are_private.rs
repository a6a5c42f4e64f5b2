// The layers below the safe API hand out raw addresses and span structs
// whose methods assume the collector's ownership rules; none of them is
// reachable from outside the crate.
fn main() {
    // Would zero memory that safe code may still be using.
    gomem::alloc::os::release(0x1000, 4096);
    // Would let safe code mark, and so resurrect, arbitrary addresses.
    let _ = gomem::gc::mark::MarkState::default();
}
