//! Shards: disjoint parts of one plan, run side by side (`--shard K/N`).

use serde::Serialize;

/// A shard: the `index`-th (0-based) of `count` disjoint parts of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not K/N (e.g. 0/4)"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("shard index `{k}` is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count `{n}` is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index is 0-based and must be below the count"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether window number `i` of the plan belongs to this shard.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }
    /// The suffix of this shard's state keys (`-shard-0-of-3`).
    pub fn suffix(&self) -> String {
        format!("-shard-{}-of-{}", self.index, self.count)
    }

    /// The shard a state key suffix names (the inverse of [`Shard::suffix`]).
    pub fn from_suffix(suffix: &str) -> Option<Shard> {
        let (k, n) = suffix.strip_prefix("-shard-")?.split_once("-of-")?;
        format!("{k}/{n}").parse().ok()
    }
}

impl std::fmt::Display for Shard {
    /// `K/N`, as `--shard` takes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!(s.to_string(), "1/3");
        assert_eq!(Shard::from_suffix(&s.suffix()), Some(s));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("x/3".parse::<Shard>().is_err());
        assert_eq!((0..6).filter(|i| s.owns(*i)).collect::<Vec<_>>(), [1, 4]);
    }
}
