//! The one way an identifier becomes its own type ([`id_type!`]), so that a run id cannot be
//! passed where an instance id or a job id is expected, down to the database.

/// Declares an identifier newtype over `String` or an integer, with `Display` and transparent
/// serde. Attributes given before the name apply to it (`#[derive(sqlx::Type)]` with
/// `#[sqlx(transparent)]` for a column type).
///
/// - `Name(String)`: `new(impl Into<String>)` and `as_str()`;
/// - `Name(String), max = N, empty = BOOL`: `parse(&str) -> Option<Self>` that refuses values
///   over `N` bytes (and empty ones unless `empty`), and `as_str()`: for ids a client sends;
/// - `Name(u64)` or another integer: `const new` and `const get`.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident(String)) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        $crate::ids::id_type!(@display $name);
    };
    ($(#[$meta:meta])* $name:ident(String), max = $max:expr, empty = $empty:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id, when it is at most the longest allowed (and not empty, where an id is
            /// required).
            pub fn parse(value: &str) -> Option<Self> {
                let fits = value.len() <= $max && ($empty || !value.is_empty());
                fits.then(|| Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        $crate::ids::id_type!(@display $name);
    };
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($inner);

        impl $name {
            pub const fn new(id: $inner) -> Self {
                Self(id)
            }

            pub const fn get(self) -> $inner {
                self.0
            }
        }

        $crate::ids::id_type!(@display $name);
    };
    (@display $name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub(crate) use id_type;
