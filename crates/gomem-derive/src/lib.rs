//! `#[derive(Trace)]` for gomem (filled in with the collector).
use proc_macro::TokenStream;

/// Placeholder-free entry point; the real expansion lands with the collector issue.
#[proc_macro_derive(Trace, attributes(gomem))]
pub fn derive_trace(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
