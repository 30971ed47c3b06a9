//! `uuid::Uuid` as a `uuid` value (feature `uuid`).

use uuid::Uuid;

use crate::value::{element, from_value, into_value};

into_value! {
    Uuid => Uuid, |v| v.into_bytes();
}

element! {
    Uuid => Uuid;
}

from_value! {
    Uuid, "uuid": crate::value::Value::Uuid(bytes) => Ok(Uuid::from_bytes(bytes));
}
