//! A search as typed by a user, checked and split into the words every hit must contain.

/// The shortest n-gram the index holds: a word must have this many characters to be
/// looked up in the index.
pub const MIN_GRAM: usize = 2;

/// The longest n-gram the index holds: a longer word is looked up as every window of
/// this many characters, then checked against the stored body.
pub const MAX_GRAM: usize = 10;

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// Why a query was refused (a client error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing but white space.
    #[error("the search query `q` is empty")]
    Empty,
    /// Over [`MAX_QUERY_CHARS`].
    #[error("the search query `q` is over {MAX_QUERY_CHARS} characters")]
    TooLong,
    /// Every word shorter than [`MIN_GRAM`].
    #[error("the search query `q` needs a word of at least {MIN_GRAM} characters")]
    TooShort,
}

/// A checked query: lower-cased words, each of which a hit contains (case-insensitive
/// substring match, as the seed's Elasticsearch n-grams gave: `hel` finds `hello world`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<String>,
}

impl SearchQuery {
    /// Checks and splits `text` on white space.
    ///
    /// # Errors
    /// [`QueryError`] for an empty, overlong or too short query.
    pub fn parse(text: &str) -> Result<SearchQuery, QueryError> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let mut words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
        words.sort();
        words.dedup();
        if words.is_empty() {
            return Err(QueryError::Empty);
        }
        if words.iter().all(|word| word.chars().count() < MIN_GRAM) {
            return Err(QueryError::TooShort);
        }
        Ok(SearchQuery { words })
    }

    /// The words, lower-cased.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The n-grams to look up: each word of [`MIN_GRAM`] to [`MAX_GRAM`] characters as it
    /// is, every [`MAX_GRAM`]-character window of a longer one. Shorter words are left to
    /// [`matches`](SearchQuery::matches).
    pub fn grams(&self) -> Vec<String> {
        let mut grams = Vec::new();
        for word in &self.words {
            let chars: Vec<char> = word.chars().collect();
            if chars.len() < MIN_GRAM {
                continue;
            }
            if chars.len() <= MAX_GRAM {
                grams.push(word.clone());
            } else {
                grams.extend(chars.windows(MAX_GRAM).map(|window| window.iter().collect::<String>()));
            }
        }
        grams.sort();
        grams.dedup();
        grams
    }

    /// Whether `body` contains every word, ignoring case: the final word on a candidate
    /// the n-grams found (they can match a long word's windows in another order).
    pub fn matches(&self, body: &str) -> bool {
        let body = body.to_lowercase();
        self.words.iter().all(|word| body.contains(word.as_str()))
    }

    /// The words the n-grams do not decide, checked on each candidate's body: those
    /// shorter than [`MIN_GRAM`] (not looked up at all) or longer than [`MAX_GRAM`]
    /// (looked up as windows, which may occur in another order).
    pub fn checked_words(&self) -> Vec<String> {
        self.words.iter().filter(|word| !(MIN_GRAM..=MAX_GRAM).contains(&word.chars().count())).cloned().collect()
    }

    /// Whether the n-grams alone decide every hit, so no candidate needs checking.
    pub fn is_exact(&self) -> bool {
        self.words.iter().all(|word| (MIN_GRAM..=MAX_GRAM).contains(&word.chars().count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_lowercased_and_checked() {
        let query = SearchQuery::parse("  Hel  WORLD hel ").expect("valid");
        assert_eq!(query.words(), ["hel", "world"]);
        assert_eq!(query.grams(), ["hel", "world"]);
        assert!(query.is_exact());
        assert!(query.checked_words().is_empty());
        assert!(query.matches("Hello World"));
        assert!(!query.matches("hello there"));
        assert_eq!(SearchQuery::parse(" \t "), Err(QueryError::Empty));
        assert_eq!(SearchQuery::parse("a b"), Err(QueryError::TooShort));
        assert_eq!(SearchQuery::parse(&"x".repeat(MAX_QUERY_CHARS + 1)), Err(QueryError::TooLong));
    }

    #[test]
    fn long_words_become_windows_and_short_ones_a_check() {
        let query = SearchQuery::parse("internationalisation a").expect("valid");
        let grams = query.grams();
        assert!(grams.iter().all(|gram| gram.chars().count() == MAX_GRAM), "{grams:?}");
        assert!(grams.contains(&"internatio".to_owned()) && grams.contains(&"nalisation".to_owned()));
        assert!(!query.is_exact());
        assert_eq!(query.checked_words(), ["a", "internationalisation"]);
        assert!(query.matches("Internationalisation at last"));
        assert!(!query.matches("nationalisation only"));
    }
}
