//! `#[derive(Trace)]` for gomem.
//!
//! The derive writes an `unsafe impl ::gomem::Trace` that is correct by
//! construction:
//!
//! * `NO_MEMBERS` is the AND of the fields' `NO_MEMBERS`;
//! * `MEMBER_WORDS` folds each field's word mask at the field's real offset
//!   (`core::mem::offset_of!`, so rustc's field reordering is accounted for)
//!   for structs of at most `MAX_BITMAP_BYTES`; enums get a mask only when
//!   they hold no Members;
//! * `trace` calls `Trace::trace` on every field (a `Member` field's trace
//!   visits the Member; a plain field's trace is an empty inline function).
//! * `__HIDDEN_MEMBERS` (hidden) is `false` after asserting, for every
//!   field (skipped ones too), that its type does not hold Members inside a
//!   std container (`Vec<Member<T>>`, `Box<Member<T>>`, `Mutex<Member<T>>`,
//!   ...): such a field is a compile error that names it. Every other plain
//!   std type (`Box<[u64]>`, `Vec<String>`, `HashMap<String, u64>`,
//!   `Arc<str>`, ...) is accepted.
//!
//! Attributes:
//!
//! * `#[gomem(skip)]` on a field: the field is not traced. Its type must
//!   still implement `Trace` and must hold no Members, which is checked at
//!   compile time, so `skip` can never hide a Member from the collector.
//! * `#[gomem(bound = "T: Trace, ...")]` on the type: replaces the inferred
//!   where-clause bounds (by default every field type that mentions a type
//!   or const parameter is bounded by `Trace`).
//!
//! Unions cannot derive `Trace`. `#[repr(packed)]` structs can, if none of
//! their fields holds a Member (a packed Member could not be traced
//! atomically); this is checked at compile time.

use std::collections::HashSet;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Attribute, Data, DeriveInput, Fields, Generics, Ident, LitStr, Member,
    Token, Type, WherePredicate,
};

/// Derives `gomem::Trace` for a struct or an enum (see the crate docs).
///
/// ```ignore
/// use gomem::{Member, Trace};
///
/// #[derive(Trace)]
/// struct Node {
///     left: Member<Node>,
///     right: Member<Node>,
///     value: u64,
/// }
/// ```
#[proc_macro_derive(Trace, attributes(gomem))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// One field of the struct or of a variant.
struct FieldInfo {
    /// `name` or `0`, as in `self.name` / `offset_of!(Self, 0)`.
    member: Member,
    ty: Type,
    skip: bool,
}

/// What the container-level `#[gomem(...)]` attributes say.
#[derive(Default)]
struct ContainerAttrs {
    /// `#[gomem(bound = "...")]`: replaces the inferred bounds.
    bound: Option<Punctuated<WherePredicate, Token![,]>>,
}

/// Folds a list of errors into one (all of them are reported).
fn combine(errors: Vec<syn::Error>) -> syn::Result<()> {
    let mut iter = errors.into_iter();
    match iter.next() {
        None => Ok(()),
        Some(mut first) => {
            for e in iter {
                first.combine(e);
            }
            Err(first)
        }
    }
}

fn parse_container_attrs(attrs: &[Attribute]) -> syn::Result<ContainerAttrs> {
    let mut out = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("gomem")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("bound") {
                let lit: LitStr = meta.value()?.parse()?;
                let preds =
                    lit.parse_with(Punctuated::<WherePredicate, Token![,]>::parse_terminated)?;
                if out.bound.is_some() {
                    return Err(meta.error("duplicate `bound` attribute"));
                }
                out.bound = Some(preds);
                Ok(())
            } else if meta.path.is_ident("skip") {
                Err(meta.error("`#[gomem(skip)]` goes on a field, not on the type"))
            } else {
                Err(meta.error("unknown gomem attribute; expected `bound = \"...\"`"))
            }
        })?;
    }
    Ok(out)
}

fn reject_variant_attrs(attrs: &[Attribute]) -> syn::Result<()> {
    match attrs.iter().find(|a| a.path().is_ident("gomem")) {
        Some(attr) => Err(syn::Error::new_spanned(
            attr,
            "gomem attributes are not supported on enum variants; put `#[gomem(skip)]` on fields",
        )),
        None => Ok(()),
    }
}

/// Whether a field carries `#[gomem(skip)]`.
fn parse_field_skip(attrs: &[Attribute]) -> syn::Result<bool> {
    let mut skip = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("gomem")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                if skip {
                    return Err(meta.error("duplicate `skip`"));
                }
                skip = true;
                Ok(())
            } else if meta.path.is_ident("bound") {
                Err(meta.error("`#[gomem(bound = ...)]` goes on the type, not on a field"))
            } else {
                Err(meta.error("unknown gomem field attribute; expected `skip`"))
            }
        })?;
    }
    Ok(skip)
}

fn collect_fields(fields: &Fields) -> syn::Result<Vec<FieldInfo>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(syn::Index {
                span: field.ty.span(),
                ..syn::Index::from(i)
            }),
        };
        match parse_field_skip(&field.attrs) {
            Ok(skip) => out.push(FieldInfo {
                member,
                ty: field.ty.clone(),
                skip,
            }),
            Err(e) => errors.push(e),
        }
    }
    combine(errors)?;
    Ok(out)
}

/// Whether the type carries `#[repr(packed)]` or `#[repr(packed(N))]`.
fn is_packed(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("repr"))
        .any(|a| match &a.meta {
            syn::Meta::List(list) => list
                .tokens
                .clone()
                .into_iter()
                .any(|t| matches!(&t, TokenTree::Ident(i) if i == "packed")),
            _ => false,
        })
}

/// Whether `tokens` contain an identifier from `names`.
fn mentions(tokens: TokenStream2, names: &HashSet<String>) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => names.contains(&i.to_string()),
        TokenTree::Group(g) => mentions(g.stream(), names),
        _ => false,
    })
}

/// The impl's where clause: the type's own, plus `F: Trace` for every field
/// type `F` that depends on a type or const parameter (concrete field types
/// need no bound: the body checks them, and a bound such as
/// `Member<Node>: Trace` on a non-generic type would be a trivial bound).
/// Field types that mention the type itself (`Option<Box<Self>>`) get no
/// bound either: it would make the impl's where clause require the impl
/// itself, which rustc reports as an overflow.
fn impl_generics_with_bounds<'a>(
    input: &DeriveInput,
    attrs: &ContainerAttrs,
    field_types: impl Iterator<Item = &'a Type>,
) -> Generics {
    let mut generics = input.generics.clone();
    let predicates = &mut generics.make_where_clause().predicates;
    if let Some(bound) = &attrs.bound {
        predicates.extend(bound.iter().cloned());
        return generics;
    }
    let params: HashSet<String> = input
        .generics
        .type_params()
        .map(|p| p.ident.to_string())
        .chain(input.generics.const_params().map(|p| p.ident.to_string()))
        .collect();
    if params.is_empty() {
        return generics;
    }
    let recursive: HashSet<String> = ["Self".to_string(), input.ident.to_string()]
        .into_iter()
        .collect();
    let mut seen = HashSet::new();
    for ty in field_types {
        let tokens = quote!(#ty);
        if !mentions(tokens.clone(), &params) || mentions(tokens.clone(), &recursive) {
            continue;
        }
        if seen.insert(tokens.to_string()) {
            predicates.push(syn::parse_quote_spanned!(ty.span()=> #ty: ::gomem::Trace));
        }
    }
    generics
}

/// `assert!(<F as Trace>::NO_MEMBERS, ...)` for a field that is not traced.
fn plain_assertion(type_name: &Ident, field: &FieldInfo, why: &str) -> TokenStream2 {
    let ty = &field.ty;
    let name = match &field.member {
        Member::Named(i) => i.to_string(),
        Member::Unnamed(i) => i.index.to_string(),
    };
    let message = LitStr::new(
        &format!(
            "gomem: field `{name}` of `{type_name}` {why}, so its type must hold no Member: \
             the collector would never see it and could free a live object"
        ),
        Span::call_site(),
    );
    quote_spanned! {ty.span()=>
        ::core::assert!(<#ty as ::gomem::Trace>::NO_MEMBERS, #message);
    }
}

/// `assert!(!<F as Trace>::__HIDDEN_MEMBERS, ...)`: a field whose type holds
/// Members inside a std container (`Vec<Member<T>>`, `Box<Member<T>>`, ...),
/// where the collector cannot see them, is a compile error naming the field.
fn hidden_assertion(type_name: &Ident, field: &FieldInfo) -> TokenStream2 {
    let ty = &field.ty;
    let name = match &field.member {
        Member::Named(i) => i.to_string(),
        Member::Unnamed(i) => i.index.to_string(),
    };
    let ty_text = quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(" ,", ",");
    let message = LitStr::new(
        &format!(
            "gomem: field `{name}` of `{type_name}` (`{ty_text}`) holds Members inside a std \
             container (Vec, Box, Cell, Mutex, HashMap, ...), whose memory the collector cannot \
             trace; use gomem::Slice, gomem::Vector or gomem::HeapMap"
        ),
        Span::call_site(),
    );
    quote_spanned! {ty.span()=>
        ::core::assert!(!<#ty as ::gomem::Trace>::__HIDDEN_MEMBERS, #message);
    }
}

/// The value of `__HIDDEN_MEMBERS`: `false`, after asserting it of every
/// field (the assertions name the field).
fn hidden_members<'a>(
    type_name: &Ident,
    fields: impl Iterator<Item = &'a FieldInfo>,
) -> TokenStream2 {
    let assertions: Vec<TokenStream2> = fields.map(|f| hidden_assertion(type_name, f)).collect();
    quote!({ #(#assertions)* false })
}

/// In `trace`: reads `NO_MEMBERS`, so that the assertions of untraced fields
/// are checked wherever `trace` is instantiated.
fn force_assertions(assertions: &[TokenStream2]) -> TokenStream2 {
    if assertions.is_empty() {
        TokenStream2::new()
    } else {
        quote!(let _: bool = <Self as ::gomem::Trace>::NO_MEMBERS;)
    }
}

/// `F1::NO_MEMBERS && F2::NO_MEMBERS && ...`, `true` for no fields.
fn and_no_members<'a>(types: impl Iterator<Item = &'a Type>) -> TokenStream2 {
    let terms: Vec<TokenStream2> = types
        .map(|ty| quote!(<#ty as ::gomem::Trace>::NO_MEMBERS))
        .collect();
    if terms.is_empty() {
        quote!(true)
    } else {
        quote!(#(#terms)&&*)
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let attrs = parse_container_attrs(&input.attrs)?;
    match &input.data {
        Data::Struct(data) => {
            let fields = collect_fields(&data.fields)?;
            Ok(expand_struct(input, &attrs, &fields))
        }
        Data::Enum(data) => {
            let mut errors = Vec::new();
            let mut variants = Vec::new();
            for v in &data.variants {
                match reject_variant_attrs(&v.attrs).and_then(|()| collect_fields(&v.fields)) {
                    Ok(fields) => variants.push((v.ident.clone(), fields)),
                    Err(e) => errors.push(e),
                }
            }
            combine(errors)?;
            Ok(expand_enum(input, &attrs, &variants))
        }
        Data::Union(data) => Err(syn::Error::new(
            data.union_token.span,
            "Trace cannot be derived for unions: the collector cannot know which field \
             holds a Member; write the impl by hand or use a struct or an enum",
        )),
    }
}

/// The impl header and the pieces shared by structs and enums.
fn finish(
    input: &DeriveInput,
    generics: &Generics,
    no_members: &TokenStream2,
    member_words: &TokenStream2,
    hidden: &TokenStream2,
    trace_body: &TokenStream2,
    has_plain_assertions: bool,
) -> TokenStream2 {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    // A non-generic type's assertions are checked even if the type is never
    // used; a generic type's are checked when an instance is (NO_MEMBERS is
    // read by the heap before anything else, and by `trace` below).
    let eager_check = if input.generics.params.is_empty() {
        let plain = if has_plain_assertions {
            quote!(const _: bool = <#name as ::gomem::Trace>::NO_MEMBERS;)
        } else {
            TokenStream2::new()
        };
        quote! {
            #plain
            const _: bool = <#name as ::gomem::Trace>::__HIDDEN_MEMBERS;
        }
    } else {
        TokenStream2::new()
    };
    // SAFETY (of the generated impl): `trace` visits every field, so every
    // inline Member; NO_MEMBERS is the AND of the fields'; MEMBER_WORDS
    // folds each field's mask at its real `offset_of!`, and is `None` past
    // 512 bytes or wherever a field's layout cannot be described.
    quote! {
        #[automatically_derived]
        unsafe impl #impl_generics ::gomem::Trace for #name #ty_generics #where_clause {
            const NO_MEMBERS: bool = #no_members;
            const MEMBER_WORDS: ::core::option::Option<u64> = #member_words;
            const __HIDDEN_MEMBERS: bool = #hidden;
            #[inline]
            fn trace(&self, __gomem_tracer: &mut ::gomem::Tracer<'_>) {
                #trace_body
            }
        }
        #eager_check
    }
}

fn expand_struct(
    input: &DeriveInput,
    attrs: &ContainerAttrs,
    fields: &[FieldInfo],
) -> TokenStream2 {
    let name = &input.ident;
    let packed = is_packed(&input.attrs);
    let generics = impl_generics_with_bounds(input, attrs, fields.iter().map(|f| &f.ty));

    let untraced = |f: &FieldInfo| f.skip || packed;
    let assertions: Vec<TokenStream2> = fields
        .iter()
        .filter(|f| untraced(f))
        .map(|f| {
            let why = if f.skip {
                "is #[gomem(skip)]"
            } else {
                "is in a #[repr(packed)] struct"
            };
            plain_assertion(name, f, why)
        })
        .collect();
    let traced: Vec<&FieldInfo> = fields.iter().filter(|f| !untraced(f)).collect();

    let and = and_no_members(traced.iter().map(|f| &f.ty));
    let no_members = if assertions.is_empty() {
        and
    } else {
        quote!({ #(#assertions)* #and })
    };

    let folds: Vec<TokenStream2> = traced
        .iter()
        .map(|f| {
            let ty = &f.ty;
            let member = &f.member;
            quote! {
                ::gomem::__derive::__fold_words(
                    __gomem_words,
                    <#ty as ::gomem::Trace>::MEMBER_WORDS,
                    <#ty as ::gomem::Trace>::NO_MEMBERS,
                    ::core::mem::offset_of!(Self, #member),
                )
            }
        })
        .collect();
    let fold = match folds.split_last() {
        None => quote!({ ::core::option::Option::Some(0) }),
        Some((last, rest)) => quote! {{
            let __gomem_words: ::core::option::Option<u64> = ::core::option::Option::Some(0);
            #(let __gomem_words = #rest;)*
            #last
        }},
    };
    let member_words = quote! {
        if ::core::mem::size_of::<Self>() > ::gomem::__derive::MAX_BITMAP_BYTES {
            ::core::option::Option::None
        } else if <Self as ::gomem::Trace>::NO_MEMBERS {
            ::core::option::Option::Some(0)
        } else #fold
    };

    let calls = traced.iter().map(|f| {
        let member = &f.member;
        quote!(::gomem::Trace::trace(&self.#member, __gomem_tracer);)
    });
    let check = force_assertions(&assertions);
    let trace_body = quote!(#check #(#calls)*);
    let hidden = hidden_members(name, fields.iter());

    finish(
        input,
        &generics,
        &no_members,
        &member_words,
        &hidden,
        &trace_body,
        !assertions.is_empty(),
    )
}

fn expand_enum(
    input: &DeriveInput,
    attrs: &ContainerAttrs,
    variants: &[(Ident, Vec<FieldInfo>)],
) -> TokenStream2 {
    let name = &input.ident;
    let all_fields = || variants.iter().flat_map(|(_, fs)| fs.iter());
    let generics = impl_generics_with_bounds(input, attrs, all_fields().map(|f| &f.ty));

    let assertions: Vec<TokenStream2> = all_fields()
        .filter(|f| f.skip)
        .map(|f| plain_assertion(name, f, "is #[gomem(skip)]"))
        .collect();
    let and = and_no_members(all_fields().filter(|f| !f.skip).map(|f| &f.ty));
    let no_members = if assertions.is_empty() {
        and
    } else {
        quote!({ #(#assertions)* #and })
    };
    let member_words = quote!(::gomem::__derive::__words_if_plain(
        <Self as ::gomem::Trace>::NO_MEMBERS
    ));

    let check = force_assertions(&assertions);
    let trace_body = if all_fields().all(|f| f.skip) {
        check
    } else {
        let arms = variants.iter().map(|(vname, fields)| {
            let traced: Vec<&FieldInfo> = fields.iter().filter(|f| !f.skip).collect();
            let members = traced.iter().map(|f| &f.member);
            let bindings: Vec<Ident> = (0..traced.len())
                .map(|i| format_ident!("__gomem_field_{}", i))
                .collect();
            quote! {
                Self::#vname { #(#members: #bindings,)* .. } => {
                    #(::gomem::Trace::trace(#bindings, __gomem_tracer);)*
                }
            }
        });
        quote! {
            #check
            match self {
                #(#arms)*
            }
        }
    };

    let hidden = hidden_members(name, all_fields());
    finish(
        input,
        &generics,
        &no_members,
        &member_words,
        &hidden,
        &trace_body,
        !assertions.is_empty(),
    )
}
