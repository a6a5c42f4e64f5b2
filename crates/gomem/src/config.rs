//! Config: the knobs Go programmers know.
//!
//! A [`Config`] comes from code (the builder methods below) or from the
//! environment ([`Config::from_env`]), with the variables and the syntax a Go
//! programmer already uses:
//!
//! | Variable      | Meaning | Default |
//! |---------------|---------|---------|
//! | `GOGC`        | Start a cycle when the heap has grown by this percentage of the live heap left by the last one; `off` turns that trigger off. | `100` |
//! | `GOMEMLIMIT`  | Soft memory limit in bytes, with an optional unit `B`, `KiB`, `MiB`, `GiB`, `TiB`; `off` = none. | none |
//! | `GOMEM_DEBUG` | Comma-separated `key=value` settings, like Go's `GODEBUG`: `gctrace`, `gccheckmark`, `clobberfree`. | all `0` |
//!
//! **GOGC** ([`Config::gc_percent`], `None` = off) sets the heap goal to
//! `live heap × (1 + GOGC/100)`: at the default 100 the heap may double
//! between cycles, `50` collects twice as often for a smaller heap, `200`
//! half as often for a bigger one, and `0` collects almost continuously.
//! With `off` cycles run only on an explicit collect or when the memory
//! limit is near.
//!
//! **GOMEMLIMIT** ([`Config::memory_limit`], `None` = no limit) is Go's soft
//! limit: when the memory the heap holds from the OS approaches it, the
//! collector runs more often than GOGC alone would ask and returns free pages
//! to the OS, even with GOGC off (Go's "GOGC=off + GOMEMLIMIT" mode). Soft
//! means it can be exceeded: when the live heap itself is bigger, the
//! collector stops chasing the limit rather than spend all the CPU on it.
//! `GOMEMLIMIT=0` is a valid limit of zero bytes, i.e. "collect
//! continuously"; `off` (or leaving the variable unset or empty) means no
//! limit. The largest accepted limit is `i64::MAX` bytes, Go's
//! `math.MaxInt64`, which is Go's own value for "no limit".
//!
//! **The hard limit** ([`Config::hard_memory_limit`]) is gomem's own and has
//! no Go counterpart and no environment variable: committed heap memory never
//! exceeds it, and an allocation that would is refused with an error instead
//! of growing the heap.
//!
//! **GOMEM_DEBUG** is gomem's `GODEBUG` (a separate name, so that a Go
//! program's settings in the same environment do not leak in). It knows
//! three keys, each on for any positive integer and off for `0`:
//! `gctrace=1` prints Go's one-line-per-cycle trace on stderr;
//! `gccheckmark=1` checks every cycle's marks with an independent traversal
//! before its sweep (`gc/checkmark.rs`, Go's `gccheckmark`);
//! `clobberfree=1` overwrites freed objects with poison bytes
//! (`gc/sweep.rs`, Go's `clobberfree`). Like Go, it ignores keys it does not
//! know, and a later setting of a key overrides an earlier one.
//!
//! # Why bad values are errors
//!
//! Go is lenient in places: a `GOGC` it cannot parse silently means `100`,
//! and a negative one means `off`. A typo in a tuning knob that silently
//! falls back to the default is a bug that shows up weeks later as a memory
//! or CPU regression, so gomem is strict: **bad values are errors that name
//! the variable and the value** and say what is accepted
//! ([`ConfigError`]). Every `GOMEMLIMIT` Go accepts is accepted here with
//! the same meaning (bar the oddity `-0`). `GOGC` must be what Go documents,
//! a non-negative integer or `off`. Both take `off` in any case (Go reads
//! only lowercase `off`). Whitespace is never trimmed: `GOGC=" 50"` is an
//! error, not 50.

use std::fmt;

/// The environment variable for [`Config::gc_percent`].
pub const GOGC_VAR: &str = "GOGC";
/// The environment variable for [`Config::memory_limit`].
pub const GOMEMLIMIT_VAR: &str = "GOMEMLIMIT";
/// The environment variable for gomem's debug settings (its `GODEBUG`).
pub const GOMEM_DEBUG_VAR: &str = "GOMEM_DEBUG";

/// The largest GOGC accepted: Go keeps GOGC in an `int32`.
pub const MAX_GC_PERCENT: u32 = i32::MAX as u32;

/// The largest GOMEMLIMIT accepted, in bytes: Go's `math.MaxInt64`.
pub const MAX_MEMORY_LIMIT: u64 = i64::MAX as u64;

/// Heap configuration. `Config::default()` is Go's default: GOGC=100, no
/// memory limit, no trace.
///
/// ```
/// let config = gomem::Config::default().gc_percent(Some(50)).gctrace(true);
/// assert_eq!(config.gc_percent_value(), Some(50));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    gc_percent: Option<u32>,
    memory_limit: Option<u64>,
    hard_memory_limit: Option<usize>,
    gctrace: bool,
    checkmark: bool,
    clobber_free: bool,
}

/// GOGC's default (Go: `defaultGOGC`).
pub const DEFAULT_GC_PERCENT: u32 = 100;

impl Default for Config {
    fn default() -> Self {
        Config {
            gc_percent: Some(DEFAULT_GC_PERCENT),
            memory_limit: None,
            hard_memory_limit: None,
            gctrace: false,
            checkmark: false,
            clobber_free: false,
        }
    }
}

impl Config {
    /// Reads `GOGC`, `GOMEMLIMIT` and `GOMEM_DEBUG` from the process
    /// environment; see [`Config::from_vars`] for the rules. Variables that
    /// are unset keep their defaults. A value that is not valid UTF-8 is an
    /// error for `GOGC` and `GOMEMLIMIT` (it cannot be a number).
    ///
    /// ```
    /// match gomem::Config::from_env() {
    ///     Ok(config) => drop(gomem::Heap::new(config)),
    ///     Err(e) => eprintln!("bad environment: {e}"),
    /// }
    /// ```
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Builds a config from variables looked up with `get` (`None` = unset),
    /// as [`Config::from_env`] does with the process environment:
    ///
    /// * `GOGC`: see [`parse_gogc`]; unset or empty = 100.
    /// * `GOMEMLIMIT`: see [`parse_memory_limit`]; unset, empty or `off` =
    ///   no limit.
    /// * `GOMEM_DEBUG`: comma-separated `key=value` settings; `gctrace=N`
    ///   turns the trace on for N ≥ 1 and off for 0. Unknown keys and empty
    ///   fields are ignored, as Go ignores them in `GODEBUG`; a known key
    ///   without a value or with a malformed one is an error. The last
    ///   setting of a key wins.
    ///
    /// The hard memory limit has no variable: it stays `None`.
    ///
    /// ```
    /// use gomem::Config;
    ///
    /// let env = |name: &str| match name {
    ///     "GOGC" => Some("off".to_string()),
    ///     "GOMEMLIMIT" => Some("512MiB".to_string()),
    ///     "GOMEM_DEBUG" => Some("madvdontneed=1,gctrace=1".to_string()),
    ///     _ => None,
    /// };
    /// let config = Config::from_vars(env).unwrap();
    /// assert_eq!(config.gc_percent_value(), None);
    /// assert_eq!(config.memory_limit_value(), Some(512 << 20));
    /// assert!(config.gctrace_value());
    ///
    /// // Nothing set: Go's defaults.
    /// assert_eq!(Config::from_vars(|_| None).unwrap(), Config::default());
    ///
    /// // Bad values name the variable and the value.
    /// let err = Config::from_vars(|name| (name == "GOMEMLIMIT").then(|| "2GB".to_string()))
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with(r#"GOMEMLIMIT="2GB": unknown unit "GB""#));
    /// ```
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(v) = get(GOGC_VAR) {
            config.gc_percent = parse_gogc(&v)?;
        }
        if let Some(v) = get(GOMEMLIMIT_VAR) {
            config.memory_limit = parse_memory_limit(&v)?;
        }
        if let Some(v) = get(GOMEM_DEBUG_VAR) {
            let d = parse_debug(&v)?;
            config.gctrace = d.gctrace.unwrap_or(config.gctrace);
            config.checkmark = d.checkmark.unwrap_or(config.checkmark);
            config.clobber_free = d.clobber_free.unwrap_or(config.clobber_free);
        }
        Ok(config)
    }

    /// GOGC: grow the heap by this percentage of the live heap before the
    /// next cycle; `None` turns the proportional trigger off.
    pub fn gc_percent(mut self, percent: Option<u32>) -> Self {
        self.gc_percent = percent;
        self
    }

    /// GOMEMLIMIT, the soft memory limit in bytes (`None` = no limit).
    pub fn memory_limit(mut self, bytes: Option<u64>) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// A hard cap on committed heap bytes; allocations beyond it fail.
    pub fn hard_memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.hard_memory_limit = bytes;
        self
    }

    /// Print one gctrace line per cycle on stderr.
    pub fn gctrace(mut self, on: bool) -> Self {
        self.gctrace = on;
        self
    }

    /// The configured GOGC.
    pub fn gc_percent_value(&self) -> Option<u32> {
        self.gc_percent
    }

    /// The configured GOMEMLIMIT.
    pub fn memory_limit_value(&self) -> Option<u64> {
        self.memory_limit
    }

    /// The configured hard limit.
    pub fn hard_memory_limit_value(&self) -> Option<usize> {
        self.hard_memory_limit
    }

    /// Whether gctrace is on.
    pub fn gctrace_value(&self) -> bool {
        self.gctrace
    }

    /// Checkmark mode (Go's `gccheckmark`, `GOMEM_DEBUG=gccheckmark=1`):
    /// once a cycle's mark is proven complete, everything reachable from the
    /// roots is traversed again with a separate visited set, and any
    /// reachable object the concurrent mark missed aborts the process with
    /// its address and span class. Slow; for tests.
    pub fn checkmark(mut self, on: bool) -> Self {
        self.checkmark = on;
        self
    }

    /// Whether checkmark mode is on.
    pub fn checkmark_value(&self) -> bool {
        self.checkmark
    }

    /// Clobber on free (Go's `clobberfree`, `GOMEM_DEBUG=clobberfree=1`):
    /// the sweeper overwrites every freed object with `0xEF` bytes, so a use
    /// after free reads poison instead of plausible old data.
    pub fn clobber_free(mut self, on: bool) -> Self {
        self.clobber_free = on;
        self
    }

    /// Whether clobber-on-free is on.
    pub fn clobber_free_value(&self) -> bool {
        self.clobber_free
    }
}

/// Parses a `GOGC` value: `Ok(Some(percent))`, or `Ok(None)` for `off`.
///
/// Accepted: a non-negative decimal integer up to `i32::MAX` (Go's
/// `int32`; leading zeros are fine), `off` in any case, and the empty string,
/// which (like an unset variable) means the default, 100. Everything else is
/// an error: whitespace, a sign (`-1`, `+5`), fractions (`12.5`), exponents
/// (`1e3`), words. Go would read a negative value as `off` and anything
/// unparsable as 100; gomem says so instead.
///
/// ```
/// use gomem::internals::parse_gogc;
///
/// assert_eq!(parse_gogc("200").unwrap(), Some(200));
/// assert_eq!(parse_gogc("0").unwrap(), Some(0));
/// assert_eq!(parse_gogc("off").unwrap(), None);
/// assert_eq!(parse_gogc("").unwrap(), Some(100));
/// assert_eq!(
///     parse_gogc("-5").unwrap_err().to_string(),
///     r#"GOGC="-5": expected a non-negative integer or "off" (to turn the collector off, write "off")"#,
/// );
/// ```
pub fn parse_gogc(s: &str) -> Result<Option<u32>, ConfigError> {
    let err = |reason| ConfigError::Gogc {
        value: s.to_string(),
        reason,
    };
    if s.is_empty() {
        return Ok(Some(DEFAULT_GC_PERCENT));
    }
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(err(GogcError::Whitespace));
    }
    if let Some(rest) = s.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(GogcError::Negative));
        }
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(GogcError::NotAnInteger));
    }
    match s.parse::<u32>() {
        Ok(n) if n <= MAX_GC_PERCENT => Ok(Some(n)),
        _ => Err(err(GogcError::TooLarge)),
    }
}

/// Parses a `GOMEMLIMIT` value with Go's syntax: `Ok(Some(bytes))`, or
/// `Ok(None)` for no limit.
///
/// Accepted, as Go's `^[0-9]+(([KMGT]i)?B)?$`: a non-negative decimal
/// integer with an optional unit `B`, `KiB`, `MiB`, `GiB` or `TiB` (powers of
/// 1024, case-sensitive, no space before the unit), up to
/// `i64::MAX` bytes in total (Go's `int64`). `off` (in any case) and the empty
/// string mean no limit. `0` is a valid limit of zero bytes: the collector
/// then runs continuously, held back only by the CPU limiter. Errors:
/// whitespace, signs, fractions (`1.5GiB`), a unit without a number (`GiB`),
/// decimal or lower-case units (`512MB`, `1gib`), and values that do not fit
/// (`99999999TiB`, anything above `i64::MAX`).
///
/// ```
/// use gomem::internals::parse_memory_limit;
///
/// assert_eq!(parse_memory_limit("512MiB").unwrap(), Some(512 * 1024 * 1024));
/// assert_eq!(parse_memory_limit("1024").unwrap(), Some(1024));
/// assert_eq!(parse_memory_limit("100B").unwrap(), Some(100));
/// assert_eq!(parse_memory_limit("0").unwrap(), Some(0));
/// assert_eq!(parse_memory_limit("off").unwrap(), None);
/// assert_eq!(
///     parse_memory_limit("12XB").unwrap_err().to_string(),
///     r#"GOMEMLIMIT="12XB": unknown unit "XB"; use B, KiB, MiB, GiB or TiB, or "off""#,
/// );
/// assert!(parse_memory_limit("99999999TiB")
///     .unwrap_err()
///     .to_string()
///     .starts_with(r#"GOMEMLIMIT="99999999TiB": too large (overflows 64 bits)"#));
/// ```
pub fn parse_memory_limit(s: &str) -> Result<Option<u64>, ConfigError> {
    let err = |reason| ConfigError::MemoryLimit {
        value: s.to_string(),
        reason,
    };
    if s.is_empty() || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(err(MemoryLimitError::Whitespace));
    }
    if let Some(rest) = s.strip_prefix('-') {
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(err(MemoryLimitError::Negative));
        }
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(err(if unit_multiplier(unit).is_some() {
            MemoryLimitError::MissingNumber
        } else {
            MemoryLimitError::NotANumber
        }));
    }
    if unit.starts_with('.') && unit[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return Err(err(MemoryLimitError::Fraction));
    }
    let Some(multiplier) = unit_multiplier(unit) else {
        return Err(err(MemoryLimitError::UnknownUnit(unit.to_string())));
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|&bytes| bytes <= MAX_MEMORY_LIMIT)
        .map(Some)
        .ok_or_else(|| err(MemoryLimitError::TooLarge))
}

/// Bytes per unit for the suffixes Go accepts (`""` = bytes).
fn unit_multiplier(unit: &str) -> Option<u64> {
    Some(match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    })
}

/// The accepted unit a user probably meant by an unknown one: a wrong case
/// (`gib`), a decimal unit (`MB`), or a bare prefix (`G`).
fn suggest_unit(unit: &str) -> Option<&'static str> {
    match unit.to_ascii_lowercase().as_str() {
        "b" | "bytes" => Some("B"),
        "k" | "kb" | "ki" | "kib" => Some("KiB"),
        "m" | "mb" | "mi" | "mib" => Some("MiB"),
        "g" | "gb" | "gi" | "gib" => Some("GiB"),
        "t" | "tb" | "ti" | "tib" => Some("TiB"),
        _ => None,
    }
}

/// The settings `GOMEM_DEBUG` can carry (`None`: not mentioned).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DebugSettings {
    /// `gctrace`.
    pub gctrace: Option<bool>,
    /// `gccheckmark`.
    pub checkmark: Option<bool>,
    /// `clobberfree`.
    pub clobber_free: Option<bool>,
}

/// Parses a `GOMEM_DEBUG` value: the last setting of each known key wins.
pub fn parse_debug(s: &str) -> Result<DebugSettings, ConfigError> {
    let mut out = DebugSettings::default();
    for field in s.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (field, None),
        };
        let slot = match key {
            "gctrace" => &mut out.gctrace,
            "gccheckmark" => &mut out.checkmark,
            "clobberfree" => &mut out.clobber_free,
            _ => continue, // Unknown keys and empty fields are ignored, as in Go.
        };
        let err = |reason| ConfigError::Debug {
            value: s.to_string(),
            key: key.to_string(),
            reason,
        };
        let Some(value) = value else {
            return Err(err(DebugError::MissingValue));
        };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(DebugError::BadValue(value.to_string())));
        }
        // Any run of digits is a valid setting: all that matters is zero or not.
        *slot = Some(value.bytes().any(|b| b != b'0'));
    }
    Ok(out)
}

/// A bad configuration value from the environment. Its message names the
/// variable and the value and says what is accepted:
///
/// ```text
/// GOGC="-5": expected a non-negative integer or "off" (to turn the collector off, write "off")
/// GOMEMLIMIT="12XB": unknown unit "XB"; use B, KiB, MiB, GiB or TiB, or "off"
/// GOMEMLIMIT="99999999TiB": too large (overflows 64 bits); the maximum is 9223372036854775807 bytes
/// GOMEM_DEBUG="gctrace=x": gctrace="x": expected a non-negative integer (0 = off, 1 = on)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `GOGC` is not a non-negative integer or `off`.
    Gogc {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: GogcError,
    },
    /// `GOMEMLIMIT` is not a byte count in Go's syntax or `off`.
    MemoryLimit {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: MemoryLimitError,
    },
    /// A setting gomem knows in `GOMEM_DEBUG` is malformed.
    Debug {
        /// The whole `GOMEM_DEBUG` value as given.
        value: String,
        /// The key whose setting is malformed, e.g. `gctrace`.
        key: String,
        /// What is wrong with it.
        reason: DebugError,
    },
}

/// Why a `GOGC` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GogcError {
    /// It contains whitespace (nothing is trimmed).
    Whitespace,
    /// It is a negative integer (Go would read it as `off`).
    Negative,
    /// It is not a plain decimal integer: a word, a sign, a fraction, an
    /// exponent.
    NotAnInteger,
    /// It is larger than [`MAX_GC_PERCENT`].
    TooLarge,
}

/// Why a `GOMEMLIMIT` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryLimitError {
    /// It contains whitespace, e.g. `1 GiB` (nothing is trimmed).
    Whitespace,
    /// It is negative.
    Negative,
    /// It has a fractional part, e.g. `1.5GiB`.
    Fraction,
    /// It is a unit with no number, e.g. `GiB`.
    MissingNumber,
    /// It does not start with a number, e.g. `abc` or `+5`.
    NotANumber,
    /// The suffix after the number is not one of `B`, `KiB`, `MiB`, `GiB`,
    /// `TiB` (case-sensitive); holds the suffix.
    UnknownUnit(String),
    /// The number of bytes is larger than [`MAX_MEMORY_LIMIT`].
    TooLarge,
}

/// Why a `GOMEM_DEBUG` setting was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DebugError {
    /// The key has no `=value`, e.g. `gctrace`.
    MissingValue,
    /// The value is not a non-negative integer; holds the value.
    BadValue(String),
}

impl ConfigError {
    /// The environment variable the bad value came from.
    pub fn variable(&self) -> &'static str {
        match self {
            ConfigError::Gogc { .. } => GOGC_VAR,
            ConfigError::MemoryLimit { .. } => GOMEMLIMIT_VAR,
            ConfigError::Debug { .. } => GOMEM_DEBUG_VAR,
        }
    }

    /// The bad value, as given.
    pub fn value(&self) -> &str {
        match self {
            ConfigError::Gogc { value, .. }
            | ConfigError::MemoryLimit { value, .. }
            | ConfigError::Debug { value, .. } => value,
        }
    }
}

const UNITS: &str = r#"use B, KiB, MiB, GiB or TiB, or "off""#;

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: ", self.variable(), self.value())?;
        match self {
            ConfigError::Gogc { reason, .. } => match reason {
                GogcError::Whitespace => f.write_str(
                    r#"expected a non-negative integer or "off", without spaces"#,
                ),
                GogcError::Negative => f.write_str(
                    r#"expected a non-negative integer or "off" (to turn the collector off, write "off")"#,
                ),
                GogcError::NotAnInteger => {
                    f.write_str(r#"expected a non-negative integer or "off""#)
                }
                GogcError::TooLarge => {
                    write!(f, "too large (the maximum is {MAX_GC_PERCENT})")
                }
            },
            ConfigError::MemoryLimit { reason, .. } => match reason {
                MemoryLimitError::Whitespace => write!(
                    f,
                    "spaces are not allowed; write the number and the unit together, \
                     e.g. \"2GiB\"; {UNITS}"
                ),
                MemoryLimitError::Negative => {
                    write!(f, "must not be negative; a number of bytes, {UNITS}")
                }
                MemoryLimitError::Fraction => write!(
                    f,
                    "fractions are not accepted; use a whole number of a smaller unit, \
                     e.g. \"1536MiB\" rather than \"1.5GiB\""
                ),
                MemoryLimitError::MissingNumber => {
                    write!(f, "missing the number before the unit, e.g. \"512MiB\"")
                }
                MemoryLimitError::NotANumber => write!(
                    f,
                    "expected a non-negative integer number of bytes with an optional \
                     unit; {UNITS}"
                ),
                MemoryLimitError::UnknownUnit(unit) => {
                    write!(f, "unknown unit {unit:?}")?;
                    if let Some(hint) = suggest_unit(unit) {
                        write!(f, " (did you mean {hint:?}? units are binary and case-sensitive)")?;
                    }
                    write!(f, "; {UNITS}")
                }
                MemoryLimitError::TooLarge => write!(
                    f,
                    "too large (overflows 64 bits); the maximum is {MAX_MEMORY_LIMIT} bytes"
                ),
            },
            ConfigError::Debug { key, reason, .. } => match reason {
                DebugError::MissingValue => write!(
                    f,
                    "{key} has no value; write {key}=1 to turn it on or {key}=0 to turn it off"
                ),
                DebugError::BadValue(v) => write!(
                    f,
                    "{key}={v:?}: expected a non-negative integer (0 = off, 1 = on)"
                ),
            },
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const TIB: u64 = 1 << 40;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn gogc_err(s: &str) -> (GogcError, String) {
        let e = parse_gogc(s).expect_err(s);
        let msg = e.to_string();
        match e {
            ConfigError::Gogc { reason, .. } => (reason, msg),
            other => panic!("{s:?}: expected a Gogc error, got {other:?}"),
        }
    }

    fn limit_err(s: &str) -> (MemoryLimitError, String) {
        let e = parse_memory_limit(s).expect_err(s);
        let msg = e.to_string();
        match e {
            ConfigError::MemoryLimit { reason, .. } => (reason, msg),
            other => panic!("{s:?}: expected a MemoryLimit error, got {other:?}"),
        }
    }

    fn debug_err(s: &str) -> (DebugError, String) {
        let e = Config::from_vars(vars(&[("GOMEM_DEBUG", s)])).expect_err(s);
        let msg = e.to_string();
        match e {
            ConfigError::Debug { reason, .. } => (reason, msg),
            other => panic!("{s:?}: expected a Debug error, got {other:?}"),
        }
    }

    // ---- GOGC ----

    #[test]
    fn gogc_good() {
        assert_eq!(parse_gogc("100").unwrap(), Some(100));
        assert_eq!(parse_gogc("0").unwrap(), Some(0));
        assert_eq!(parse_gogc("50").unwrap(), Some(50));
        assert_eq!(parse_gogc("050").unwrap(), Some(50));
        assert_eq!(parse_gogc("off").unwrap(), None);
        assert_eq!(parse_gogc("OFF").unwrap(), None);
        assert_eq!(parse_gogc("Off").unwrap(), None);
        assert_eq!(parse_gogc("").unwrap(), Some(DEFAULT_GC_PERCENT));
        assert_eq!(parse_gogc("2147483647").unwrap(), Some(MAX_GC_PERCENT));
    }

    #[test]
    fn gogc_whitespace() {
        for s in ["  50", "50 ", "5 0", "\t50", " off"] {
            let (reason, msg) = gogc_err(s);
            assert_eq!(reason, GogcError::Whitespace, "{s:?}");
            assert!(msg.starts_with(&format!("GOGC={s:?}: ")), "{msg}");
            assert!(msg.contains("without spaces"), "{msg}");
        }
    }

    #[test]
    fn gogc_negative() {
        let (reason, msg) = gogc_err("-1");
        assert_eq!(reason, GogcError::Negative);
        assert_eq!(
            msg,
            r#"GOGC="-1": expected a non-negative integer or "off" (to turn the collector off, write "off")"#
        );
        assert_eq!(gogc_err("-5").0, GogcError::Negative);
    }

    #[test]
    fn gogc_not_an_integer() {
        for s in [
            "abc", "1e3", "12.5", "+5", "-", "-x", "0x10", "offf", "100%",
        ] {
            let (reason, msg) = gogc_err(s);
            assert_eq!(reason, GogcError::NotAnInteger, "{s:?}");
            assert_eq!(
                msg,
                format!(r#"GOGC={s:?}: expected a non-negative integer or "off""#)
            );
        }
    }

    #[test]
    fn gogc_too_large() {
        for s in ["99999999999999999999", "2147483648", "4294967296"] {
            let (reason, msg) = gogc_err(s);
            assert_eq!(reason, GogcError::TooLarge, "{s:?}");
            assert_eq!(
                msg,
                format!("GOGC={s:?}: too large (the maximum is 2147483647)")
            );
        }
    }

    // ---- GOMEMLIMIT ----

    #[test]
    fn memory_limit_good() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("0B", Some(0)),
            ("0GiB", Some(0)),
            ("512MiB", Some(512 * MIB)),
            ("2GiB", Some(2 * GIB)),
            ("1TiB", Some(TIB)),
            ("1024", Some(1024)),
            ("100B", Some(100)),
            ("1KiB", Some(KIB)),
            ("007MiB", Some(7 * MIB)),
            ("off", None),
            ("OFF", None),
            ("", None),
            ("9223372036854775807", Some(i64::MAX as u64)),
            ("9223372036854775807B", Some(i64::MAX as u64)),
            ("8388607TiB", Some(8_388_607 * TIB)),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_memory_limit(s).unwrap(), want, "GOMEMLIMIT={s:?}");
        }
    }

    #[test]
    fn memory_limit_negative() {
        for s in ["-1", "-1GiB", "-0"] {
            let (reason, msg) = limit_err(s);
            assert_eq!(reason, MemoryLimitError::Negative, "{s:?}");
            assert!(msg.starts_with(&format!("GOMEMLIMIT={s:?}: must not be negative")));
        }
    }

    #[test]
    fn memory_limit_unknown_unit() {
        let (reason, msg) = limit_err("12XB");
        assert_eq!(reason, MemoryLimitError::UnknownUnit("XB".into()));
        assert_eq!(
            msg,
            r#"GOMEMLIMIT="12XB": unknown unit "XB"; use B, KiB, MiB, GiB or TiB, or "off""#
        );
        // Wrong case and decimal units are errors, with a hint.
        for (s, unit, hint) in [
            ("1gib", "gib", "GiB"),
            ("512mb", "mb", "MiB"),
            ("512MB", "MB", "MiB"),
            ("2GB", "GB", "GiB"),
            ("1kib", "kib", "KiB"),
            ("4G", "G", "GiB"),
            ("1Ti", "Ti", "TiB"),
            ("10b", "b", "B"),
        ] {
            let (reason, msg) = limit_err(s);
            assert_eq!(reason, MemoryLimitError::UnknownUnit(unit.into()), "{s:?}");
            assert_eq!(
                msg,
                format!(
                    "GOMEMLIMIT={s:?}: unknown unit {unit:?} (did you mean {hint:?}? units are \
                     binary and case-sensitive); use B, KiB, MiB, GiB or TiB, or \"off\""
                )
            );
        }
        for (s, unit) in [
            ("1e3", "e3"),
            ("1PiB", "PiB"),
            ("12.", "."),
            ("1_000", "_000"),
        ] {
            assert_eq!(
                limit_err(s).0,
                MemoryLimitError::UnknownUnit(unit.into()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn memory_limit_fraction() {
        for s in ["1.5GiB", "0.5", "1.0B"] {
            let (reason, msg) = limit_err(s);
            assert_eq!(reason, MemoryLimitError::Fraction, "{s:?}");
            assert!(msg.contains("fractions are not accepted"), "{msg}");
            assert!(msg.contains("1536MiB"), "{msg}");
        }
    }

    #[test]
    fn memory_limit_missing_number() {
        for s in ["GiB", "B", "KiB", "TiB"] {
            let (reason, msg) = limit_err(s);
            assert_eq!(reason, MemoryLimitError::MissingNumber, "{s:?}");
            assert_eq!(
                msg,
                format!(r#"GOMEMLIMIT={s:?}: missing the number before the unit, e.g. "512MiB""#)
            );
        }
    }

    #[test]
    fn memory_limit_not_a_number() {
        for s in ["abc", "+5", "-", "-GiB", "none", ".5GiB", "unlimited"] {
            let (reason, msg) = limit_err(s);
            assert_eq!(reason, MemoryLimitError::NotANumber, "{s:?}");
            assert!(msg.starts_with(&format!("GOMEMLIMIT={s:?}: expected a non-negative")));
            assert!(
                msg.ends_with(r#"use B, KiB, MiB, GiB or TiB, or "off""#),
                "{msg}"
            );
        }
    }

    #[test]
    fn memory_limit_too_large() {
        for s in [
            "99999999TiB",
            "9223372036854775808",  // i64::MAX + 1
            "9223372036854775808B", // i64::MAX + 1
            "18446744073709551615", // u64::MAX
            "18446744073709551616", // u64::MAX + 1
            "99999999999999999999999",
            "8388608TiB", // exactly 2^63
            "9007199254740992KiB",
        ] {
            let (reason, msg) = limit_err(s);
            assert_eq!(reason, MemoryLimitError::TooLarge, "{s:?}");
            assert_eq!(
                msg,
                format!(
                    "GOMEMLIMIT={s:?}: too large (overflows 64 bits); the maximum is \
                     9223372036854775807 bytes"
                )
            );
        }
    }

    #[test]
    fn memory_limit_whitespace() {
        for s in ["1 GiB", " 1GiB", "1GiB ", "1\tGiB", "1GiB\n", " off"] {
            let (reason, msg) = limit_err(s);
            assert_eq!(reason, MemoryLimitError::Whitespace, "{s:?}");
            assert!(msg.starts_with(&format!("GOMEMLIMIT={s:?}: spaces are not allowed")));
        }
    }

    // ---- GOMEM_DEBUG ----

    #[test]
    fn debug_good() {
        let gctrace = |s: &str| {
            Config::from_vars(vars(&[("GOMEM_DEBUG", s)]))
                .unwrap()
                .gctrace_value()
        };
        assert!(gctrace("gctrace=1"));
        assert!(!gctrace("gctrace=0"));
        assert!(gctrace("foo=bar,gctrace=1"));
        assert!(gctrace("gctrace=1,foo=bar"));
        assert!(gctrace("gctrace=2"));
        assert!(gctrace("gctrace=01"));
        assert!(!gctrace("gctrace=00"));
        // The last setting wins, as in Go.
        assert!(!gctrace("gctrace=1,gctrace=0"));
        assert!(gctrace("gctrace=0,gctrace=1"));
        // Unknown keys, bare words and empty fields are ignored.
        assert!(!gctrace(""));
        assert!(!gctrace("foo=bar"));
        assert!(!gctrace("foo"));
        assert!(!gctrace(",,"));
        assert!(gctrace(",gctrace=1,"));
        assert!(!gctrace("gctracex=1"));
        assert!(!gctrace("GCTRACE=1")); // keys are case-sensitive, as in Go
    }

    #[test]
    fn debug_bad_value() {
        let (reason, msg) = debug_err("gctrace=x");
        assert_eq!(reason, DebugError::BadValue("x".into()));
        assert_eq!(
            msg,
            r#"GOMEM_DEBUG="gctrace=x": gctrace="x": expected a non-negative integer (0 = off, 1 = on)"#
        );
        for (s, v) in [
            ("gctrace=", ""),
            ("gctrace=-1", "-1"),
            ("gctrace=on", "on"),
            ("gctrace=true", "true"),
            ("gctrace= 1", " 1"),
            ("gctrace=1=1", "1=1"),
            ("foo=bar,gctrace=x", "x"),
            ("gctrace=1,gctrace=x", "x"),
        ] {
            let (reason, msg) = debug_err(s);
            assert_eq!(reason, DebugError::BadValue(v.into()), "{s:?}");
            assert!(msg.starts_with(&format!("GOMEM_DEBUG={s:?}: ")), "{msg}");
        }
    }

    #[test]
    fn debug_missing_value() {
        let (reason, msg) = debug_err("gctrace");
        assert_eq!(reason, DebugError::MissingValue);
        assert_eq!(
            msg,
            r#"GOMEM_DEBUG="gctrace": gctrace has no value; write gctrace=1 to turn it on or gctrace=0 to turn it off"#
        );
        assert_eq!(debug_err("foo=1,gctrace").0, DebugError::MissingValue);
    }

    // ---- from_vars ----

    #[test]
    fn from_vars_defaults() {
        assert_eq!(Config::from_vars(|_| None).unwrap(), Config::default());
        let empty = Config::from_vars(vars(&[
            ("GOGC", ""),
            ("GOMEMLIMIT", ""),
            ("GOMEM_DEBUG", ""),
        ]))
        .unwrap();
        assert_eq!(empty, Config::default());
        assert_eq!(empty.gc_percent_value(), Some(100));
        assert_eq!(empty.memory_limit_value(), None);
        assert_eq!(empty.hard_memory_limit_value(), None);
        assert!(!empty.gctrace_value());
    }

    #[test]
    fn from_vars_reads_all_three() {
        let c = Config::from_vars(vars(&[
            ("GOGC", "off"),
            ("GOMEMLIMIT", "2GiB"),
            ("GOMEM_DEBUG", "gctrace=1"),
            ("GODEBUG", "gctrace=0"), // Go's variable is not gomem's
        ]))
        .unwrap();
        assert_eq!(c.gc_percent_value(), None);
        assert_eq!(c.memory_limit_value(), Some(2 * GIB));
        assert!(c.gctrace_value());
        assert_eq!(c.hard_memory_limit_value(), None);

        let c = Config::from_vars(vars(&[("GOGC", "50"), ("GOMEMLIMIT", "0")])).unwrap();
        assert_eq!(c.gc_percent_value(), Some(50));
        assert_eq!(c.memory_limit_value(), Some(0));
    }

    #[test]
    fn from_vars_errors_name_the_variable() {
        let e = Config::from_vars(vars(&[("GOGC", "-5")])).unwrap_err();
        assert_eq!((e.variable(), e.value()), ("GOGC", "-5"));
        assert_eq!(
            e.to_string(),
            r#"GOGC="-5": expected a non-negative integer or "off" (to turn the collector off, write "off")"#
        );

        let e = Config::from_vars(vars(&[("GOGC", "50"), ("GOMEMLIMIT", "1.5GiB")])).unwrap_err();
        assert_eq!((e.variable(), e.value()), ("GOMEMLIMIT", "1.5GiB"));

        let e = Config::from_vars(vars(&[("GOMEM_DEBUG", "gctrace=x")])).unwrap_err();
        assert_eq!((e.variable(), e.value()), ("GOMEM_DEBUG", "gctrace=x"));
        assert!(matches!(e, ConfigError::Debug { ref key, .. } if key == "gctrace"));

        // Values with quotes or control characters are escaped in the message.
        let e = parse_memory_limit("1\"GiB").unwrap_err();
        assert!(e.to_string().starts_with(r#"GOMEMLIMIT="1\"GiB": "#), "{e}");
    }

    #[test]
    fn config_error_is_a_std_error() {
        fn takes(_: &dyn std::error::Error) {}
        takes(&parse_gogc("x").unwrap_err());
        let boxed: Box<dyn std::error::Error + Send + Sync> = parse_gogc("x").unwrap_err().into();
        assert!(boxed.to_string().starts_with("GOGC="));
    }

    #[test]
    fn from_env_reads_the_process_environment() {
        // Does not modify the environment; checks only that from_env agrees
        // with from_vars over std::env.
        let direct = Config::from_vars(|name| std::env::var(name).ok());
        match (Config::from_env(), direct) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("from_env {a:?} != from_vars {b:?}"),
        }
    }
}
