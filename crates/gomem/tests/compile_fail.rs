//! Compile-fail tests: the soundness rules of the safe API (DESIGN.md §3)
//! are compile errors, not runtime checks. Each file in `tests/ui/` must fail
//! to compile with the error in its `.stderr` snapshot; each file in
//! `tests/ui-pass/` must compile and run.
//!
//! Keep at least one pass case: with one, trybuild builds every case (`cargo
//! build`), which `vec_of_members_bare.rs` needs (its error is raised at
//! monomorphization, which `cargo check` skips).
//!
//! Regenerate the snapshots with
//! `TRYBUILD=overwrite cargo test -p gomem --test compile_fail`.

#[test]
fn soundness_rules_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
