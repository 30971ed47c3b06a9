//! `#[derive(DbListenable)]`, the derive behind `db_listenable::DbListenable`.
//!
//! Use it through `db-listenable` (feature `derive`, on by default); never depend on
//! this crate directly. It grows by phase, as thiserror and serde_derive do: `ast`
//! (syn input to our structs), `attr` (the `#[db_listenable(...)]` attributes), `valid`
//! (checks across fields, every error reported at once) and `expand` (the generated
//! impl and model registration). Today it names the table after the struct.

mod naming;

use proc_macro::TokenStream;
use quote::quote;
use syn::{DeriveInput, parse_macro_input};

/// Implements `db_listenable::DbListenable` for a struct: the table is the snake_case
/// plural of the struct's name (`InvoiceItem` -> `invoice_items`) in schema `public`.
#[proc_macro_derive(DbListenable, attributes(db_listenable))]
pub fn derive_db_listenable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let ident = &input.ident;
    let table = naming::default_table_name(&ident.to_string());
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::db_listenable::DbListenable for #ident #type_generics #where_clause {
            const SCHEMA: &'static str = "public";
            const TABLE: &'static str = #table;
        }
    }
    .into()
}
