//! Serde for maps with structured keys as a list of `(key, value)` pairs, in key order:
//! JSON objects only take string keys, and snapshots of protocol state must serialize
//! deterministically. Use with `#[serde(with = "altlayer_core::serde_pairs")]`.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Votes {
//!     #[serde(with = "altlayer_core::serde_pairs")]
//!     by_slot: BTreeMap<(u32, u8), u64>,
//! }
//!
//! let votes = Votes { by_slot: BTreeMap::from([((1, 2), 3)]) };
//! let json = serde_json::to_string(&votes).unwrap();
//! assert_eq!(json, r#"{"by_slot":[[[1,2],3]]}"#);
//! assert_eq!(serde_json::from_str::<Votes>(&json).unwrap(), votes);
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Writes the map as a sequence of pairs, in key order.
pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
    map: &BTreeMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(map.iter())
}

/// Reads a sequence of pairs back into a map (a repeated key keeps the last value).
pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Ok(Vec::<(K, V)>::deserialize(deserializer)?
        .into_iter()
        .collect())
}
