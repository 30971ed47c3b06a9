//! The generated code: the `DbListenable` impl with its `MODEL` constant and the
//! model's registration, or, when the input has errors, those errors and a stand-in impl.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Path};

use crate::ast::{Container, Key};
use crate::ctxt::Ctxt;
use crate::valid;

/// Expands `#[derive(DbListenable)]` on `input`.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::default();
    let container = Container::from_syn(&cx, input);
    valid::check(&cx, &container);
    match (cx.finish(), container.crate_path()) {
        (Ok(()), Some(krate)) => model_impl(&container, &krate),
        // An unusable `crate = ...` is always reported, so this arm is never taken.
        (Ok(()), None) => TokenStream::new(),
        (Err(error), krate) => stand_in(input, krate.as_ref(), error),
    }
}

/// The impl and the registration of a checked model.
fn model_impl(container: &Container, krate: &Path) -> TokenStream {
    let ident = &container.input.ident;
    let rust_name = container.rust_name();
    let schema = container.schema().value;
    let table = container.table().value;
    let key: Vec<String> = match container.key() {
        Key::Listed(primary_key) => primary_key.columns.iter().map(syn::LitStr::value).collect(),
        Key::Fields(fields) => fields.iter().map(|field| field.column.value.clone()).collect(),
        Key::DefaultId(id) => vec![id.column.value.clone()],
        Key::Missing => Vec::new(),
    };
    let columns = container.columns().map(|field| {
        let name = &field.column.value;
        let field_name = &field.name;
        // A key column is required even under a struct-level `#[sqlx(default)]`.
        let optional = field.optional && !key.contains(name);
        quote!(#krate::Column { name: #name, field: #field_name, optional: #optional })
    });
    // Sorted, so the capture (and its fingerprint) does not depend on field order.
    let mut quiet: Vec<String> = container
        .columns()
        .filter(|field| field.attrs.quiet.is_some())
        .map(|field| field.column.value.clone())
        .chain(container.attrs.quiet.iter().flat_map(|list| list.columns.iter().map(syn::LitStr::value)))
        .collect();
    quiet.sort();
    quiet.dedup();
    let mut exclude: Vec<String> =
        container.attrs.exclude.iter().flat_map(|list| list.columns.iter().map(syn::LitStr::value)).collect();
    exclude.sort();
    exclude.dedup();
    let events = container.events();
    let (insert, update, delete, truncate) = (events.insert, events.update, events.delete, events.truncate);
    quote! {
        #[automatically_derived]
        impl #krate::DbListenable for #ident {
            const MODEL: #krate::Model = #krate::Model {
                rust_name: #rust_name,
                schema: #schema,
                table: #table,
                key: &[#(#key),*],
                columns: &[#(#columns),*],
                quiet: &[#(#quiet),*],
                exclude: &[#(#exclude),*],
                events: #krate::Events { insert: #insert, update: #update, delete: #delete, truncate: #truncate },
            };
        }

        #krate::__private::inventory::submit! {
            #krate::registry::Registration::of::<#ident>()
        }
    }
}

/// The errors, and an impl that keeps the type usable as a `DbListenable` so the user
/// sees these errors and not a trail of "trait not implemented" after them (thiserror
/// does the same). The model is never registered. Without a usable crate path there is
/// nothing to implement, and the errors come alone.
fn stand_in(input: &DeriveInput, krate: Option<&Path>, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    let Some(krate) = krate else { return errors };
    let ident = &input.ident;
    let rust_name = syn::ext::IdentExt::unraw(ident).to_string();
    let mut generics = input.generics.clone();
    if !generics.params.is_empty() {
        // `DbListenable: 'static`; the bound keeps the impl well-formed for any parameters.
        generics.make_where_clause().predicates.push(syn::parse_quote!(Self: 'static));
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    quote! {
        #errors

        #[automatically_derived]
        impl #impl_generics #krate::DbListenable for #ident #type_generics #where_clause {
            const MODEL: #krate::Model = #krate::Model {
                rust_name: #rust_name,
                schema: "",
                table: "",
                key: &[],
                columns: &[],
                quiet: &[],
                exclude: &[],
                events: #krate::Events::DEFAULT,
            };
        }
    }
}
