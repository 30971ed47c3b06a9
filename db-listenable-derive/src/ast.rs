//! The syn input turned into our own structs: the struct, its fields and the name each
//! of them has in PostgreSQL. Shapes that cannot be a table row (enums, unions, tuple
//! and unit structs, generic structs) are reported here.

use proc_macro2::Span;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Path};

use crate::attr::{self, CratePath, Events};
use crate::ctxt::Ctxt;
use crate::naming::default_table_name;

/// The struct the derive is on.
pub(crate) struct Container<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) attrs: attr::Container,
    /// The named fields, in declaration order; empty when the input is no named-field struct.
    pub(crate) fields: Vec<Field>,
    /// Whether the input is a struct with named fields (if not, an error is recorded).
    pub(crate) named_struct: bool,
}

/// One named field.
pub(crate) struct Field {
    /// The field's name without `r#`.
    pub(crate) name: String,
    pub(crate) attrs: attr::Field,
    /// The column `sqlx::FromRow` reads the field from.
    pub(crate) column: Name,
    /// Whether FromRow tolerates the column's absence (`#[sqlx(default)]` on the field
    /// or the struct).
    pub(crate) optional: bool,
}

/// A name for PostgreSQL, where it came from and where errors about it point.
pub(crate) struct Name {
    pub(crate) value: String,
    pub(crate) span: Span,
    pub(crate) origin: Origin,
}

/// Where a name came from; errors explain a name by its origin.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A `#[db_listenable(...)]` setting.
    Attribute,
    /// `#[sqlx(rename = "...")]`.
    SqlxRename,
    /// `#[sqlx(rename_all = "...")]` applied to the field's name.
    SqlxRenameAll,
    /// The Rust name (the field's name, or the struct's for the table) or a default.
    Rust,
}

/// How the key columns are named.
pub(crate) enum Key<'c> {
    /// `#[db_listenable(primary_key = ...)]`.
    Listed(&'c attr::ColumnList),
    /// The fields marked `#[db_listenable(key)]`, in field order.
    Fields(Vec<&'c Field>),
    /// Nothing given: the column of the field named `id`.
    DefaultId(&'c Field),
    /// Nothing given and no `id` field.
    Missing,
}

const NOT_A_ROW: &str = "DbListenable maps a struct's named fields to the columns of one table";

impl<'a> Container<'a> {
    /// Reads the derive input; records an error for every shape that cannot be a row.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Container<'a> {
        let attrs = attr::Container::from_attrs(cx, &input.attrs);
        let ident = &input.ident;
        let mut named_struct = false;
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => {
                    named_struct = true;
                    named.named.iter().filter_map(|field| Field::from_syn(cx, &attrs, field)).collect()
                }
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned(unnamed, format!("{NOT_A_ROW}; a tuple struct's fields have no names"));
                    Vec::new()
                }
                Fields::Unit => {
                    let struct_token = data.struct_token;
                    cx.error_spanned(quote!(#struct_token #ident), format!("{NOT_A_ROW}; a unit struct has none"));
                    Vec::new()
                }
            },
            Data::Enum(data) => {
                let enum_token = data.enum_token;
                cx.error_spanned(quote!(#enum_token #ident), format!("{NOT_A_ROW}; it cannot be derived for an enum"));
                Vec::new()
            }
            Data::Union(data) => {
                let union_token = data.union_token;
                cx.error_spanned(quote!(#union_token #ident), format!("{NOT_A_ROW}; it cannot be derived for a union"));
                Vec::new()
            }
        };
        if !input.generics.params.is_empty() {
            cx.error_spanned(
                &input.generics,
                format!(
                    "DbListenable cannot be derived for a generic struct: a table has one row type, so `{}` must not \
                     have type, lifetime or const parameters",
                    ident.unraw()
                ),
            );
        }
        Container { input, attrs, fields, named_struct }
    }

    /// The struct's name without `r#`.
    pub(crate) fn rust_name(&self) -> String {
        self.input.ident.unraw().to_string()
    }

    /// `table = "..."`, else the snake_case plural of the struct's name.
    pub(crate) fn table(&self) -> Name {
        match &self.attrs.table {
            Some(lit) => Name { value: lit.value(), span: lit.span(), origin: Origin::Attribute },
            None => Name {
                value: default_table_name(&self.rust_name()),
                span: self.input.ident.span(),
                origin: Origin::Rust,
            },
        }
    }

    /// `schema = "..."`, else `public`.
    pub(crate) fn schema(&self) -> Name {
        match &self.attrs.schema {
            Some(lit) => Name { value: lit.value(), span: lit.span(), origin: Origin::Attribute },
            None => Name { value: "public".to_owned(), span: self.input.ident.span(), origin: Origin::Rust },
        }
    }

    /// `events(...)`, else insert, update and delete.
    pub(crate) fn events(&self) -> &Events {
        self.attrs.events.as_ref().unwrap_or(&Events::DEFAULT)
    }

    /// The path generated code names the crate by; `None` when `crate = ...` is unusable.
    pub(crate) fn crate_path(&self) -> Option<Path> {
        match &self.attrs.crate_path {
            CratePath::Default => Some(syn::parse_quote!(::db_listenable)),
            CratePath::Given(path) => Some(path.clone()),
            CratePath::Invalid => None,
        }
    }

    /// The fields that are columns (FromRow reads them), in field order.
    pub(crate) fn columns(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|field| field.is_column())
    }

    /// How the key is named (checked by `valid`).
    pub(crate) fn key(&self) -> Key<'_> {
        if let Some(primary_key) = &self.attrs.primary_key {
            return Key::Listed(primary_key);
        }
        let marked: Vec<&Field> = self.fields.iter().filter(|field| field.attrs.key.is_some()).collect();
        if !marked.is_empty() {
            return Key::Fields(marked);
        }
        match self.columns().find(|field| field.name == "id") {
            Some(id) => Key::DefaultId(id),
            None => Key::Missing,
        }
    }
}

impl Field {
    /// Reads a named field; `None` for an unnamed one (never passed in).
    fn from_syn(cx: &Ctxt, container: &attr::Container, field: &syn::Field) -> Option<Field> {
        let ident = field.ident.as_ref()?;
        let attrs = attr::Field::from_attrs(cx, &field.attrs);
        // As sqlx-macros-core's `derives/row.rs`: `rename` wins, else `rename_all` applied
        // to the field's name without `r#`, else that name.
        let name = ident.unraw().to_string();
        let column = match (&attrs.sqlx.rename, &container.sqlx_rename_all) {
            (Some(lit), _) => Name { value: lit.value(), span: lit.span(), origin: Origin::SqlxRename },
            (None, Some(rule)) => {
                Name { value: rule.apply_to_field(&name), span: ident.span(), origin: Origin::SqlxRenameAll }
            }
            (None, None) => Name { value: name.clone(), span: ident.span(), origin: Origin::Rust },
        };
        let optional = container.sqlx_default || attrs.sqlx.default.is_some();
        Some(Field { name, attrs, column, optional })
    }

    /// Whether the field is a column: FromRow reads it (not skipped) and it is not flattened.
    pub(crate) fn is_column(&self) -> bool {
        self.attrs.sqlx.skip.is_none() && self.attrs.sqlx.flatten.is_none()
    }
}
