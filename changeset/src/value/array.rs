//! [`Array`]: a one-dimensional PostgreSQL array, and [`Element`], the Rust types that
//! convert to and from one.

use crate::error::ValueError;
use crate::value::{FromValue, Kind, Value};

/// A one-dimensional array whose items all have one [`Kind`] (each may be `NULL`),
/// numbered from 1 as PostgreSQL numbers them by default. `Vec<T>` converts to and from
/// it for each [`Element`] type `T`; `Vec<Option<T>>` for arrays with `NULL`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    element: &'static Kind,
    items: Vec<Value>,
}

impl Array {
    /// An array of `element` values.
    ///
    /// # Errors
    /// [`ValueError::Mismatch`] for an item of another kind, or an array element kind
    /// (arrays of arrays are PostgreSQL's multi-dimensional arrays, which have no `Value`).
    pub fn new(element: Kind, items: Vec<Value>) -> Result<Self, ValueError> {
        let Some(element) = element.as_static_scalar() else {
            return Err(ValueError::Mismatch { expected: "a scalar array element", found: element.sql_type().into() });
        };
        if let Some(other) = items.iter().find(|item| item.kind() != *element) {
            return Err(ValueError::Mismatch { expected: element.sql_type(), found: other.describe() });
        }
        Ok(Array { element, items })
    }

    /// The kind of the items.
    pub fn element(&self) -> Kind {
        *self.element
    }

    /// The items, in order.
    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// The items, in order.
    pub fn into_items(self) -> Vec<Value> {
        self.items
    }

    /// The kind of the array, for [`Value::kind`].
    pub(crate) fn kind(&self) -> Kind {
        Kind::Array(self.element)
    }
}

/// A Rust type that is one item of a PostgreSQL array: `Vec<T>` and `Vec<Option<T>>`
/// convert to and from [`Value::Array`].
pub trait Element: Into<Value> + FromValue {
    /// The kind of the items, borrowed for `'static` so that [`Kind::Array`] can hold it
    /// (a generic constant cannot be borrowed that long).
    const KIND: &'static Kind;
}

impl<T: Element> Element for Option<T>
where
    Option<T>: Into<Value>,
{
    const KIND: &'static Kind = T::KIND;
}

impl<T: Element> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Self {
        Value::Array(Array { element: T::KIND, items: items.into_iter().map(Into::into).collect() })
    }
}

impl<T: Element> From<Option<Vec<T>>> for Value {
    fn from(items: Option<Vec<T>>) -> Self {
        match items {
            Some(items) => items.into(),
            None => Value::Null(Kind::Array(T::KIND)),
        }
    }
}

impl<T: Element> FromValue for Vec<T> {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Array(array) => array.items.into_iter().map(T::from_value).collect(),
            other => Err(ValueError::Mismatch { expected: Kind::Array(T::KIND).sql_type(), found: other.describe() }),
        }
    }
}
