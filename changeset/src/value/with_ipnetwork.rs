//! `ipnetwork::IpNetwork` as an `inet` value, read from `inet` or `cidr` (feature
//! `ipnetwork`).

use ipnetwork::IpNetwork;

use crate::value::{Inet, Value, element, from_value, into_value, unrepresentable};

into_value! {
    IpNetwork => Inet, |v| Inet::new_unchecked(v.ip(), v.prefix());
}

element! {
    IpNetwork => Inet;
}

from_value! {
    IpNetwork, "inet or cidr": Value::Inet(n) | Value::Cidr(n) => IpNetwork::new(n.addr(), n.prefix())
        .map_err(|_| unrepresentable(&n, "ipnetwork::IpNetwork"));
}
