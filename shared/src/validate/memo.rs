//! Results computed once per distinct input string during one validation.

use rustc_hash::FxHashMap;

/// Results computed once per distinct input string during one validation.
#[derive(Debug)]
pub struct Memo<'a, T>(FxHashMap<&'a str, T>);

impl<T> Default for Memo<'_, T> {
    fn default() -> Self {
        Self(FxHashMap::default())
    }
}

impl<'a, T> Memo<'a, T> {
    /// A memo sized for `inputs` distinct inputs, so that filling it never grows the table.
    pub fn with_capacity(inputs: usize) -> Self {
        Self(FxHashMap::with_capacity_and_hasher(
            inputs,
            Default::default(),
        ))
    }

    pub fn get_or_insert_with(&mut self, key: &'a str, compute: impl FnOnce() -> T) -> &T {
        self.0.entry(key).or_insert_with(compute)
    }
}
