//! A strict, minimal JSON reader for the shapes contacts almost always have: objects of
//! numbers and plain strings (and, for radar, an array of such objects).
//!
//! Why not serde_json alone: decoding was a quarter of all instructions of the load-scene
//! replay, about 7,400 instructions per 220-byte AIS report, most of it generic machinery
//! (field visitors, `deserialize_any`, `Option` wrappers). This reader does the common case
//! in a few hundred. It is only a fast path: it accepts a strict subset of JSON and gives
//! up (`None`) on anything else — an escape in a string, a nested value where a scalar is
//! expected, a number serde_json would reject, a duplicate field — and the caller then
//! decodes the same bytes with serde_json, so odd input gets exactly the answer (and the
//! error message) it got before. Tests run both paths over generated and real payloads and
//! require identical results.

/// A JSON scalar as read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    Num(f64),
    /// A string without escapes, borrowed from the input.
    Str(&'a str),
    Bool(bool),
    Null,
}

impl<'a> Scalar<'a> {
    /// For an `Option<f64>` field: a number, or `null` for none.
    pub fn number(self) -> Option<Option<f64>> {
        match self {
            Scalar::Num(n) => Some(Some(n)),
            Scalar::Null => Some(None),
            _ => None,
        }
    }

    /// For an `Option<Cow<str>>` field: a string, or `null` for none.
    pub fn text(self) -> Option<Option<std::borrow::Cow<'a, str>>> {
        match self {
            Scalar::Str(s) => Some(Some(std::borrow::Cow::Borrowed(s))),
            Scalar::Null => Some(None),
            _ => None,
        }
    }

    /// For a `bool` field (`null` is an error there, so it gives up).
    pub fn flag(self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// Bytes that end a plain string: its closing quote, an escape, a control character.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Marks (high bit) the bytes of `x` equal to `c`. The lowest mark is always a true one; a
/// borrow can only add false marks above a true one, so `trailing_zeros` finds the first.
fn marks_eq(x: u64, c: u8) -> u64 {
    let y = x ^ (ONES * c as u64);
    y.wrapping_sub(ONES) & !y & HIGH
}

/// The index of the first byte of `b` in [`STRING_STOP`].
///
/// Eight bytes at a time (SWAR: a quote, a backslash or a byte below 0x20 marked by word
/// arithmetic), then the table for the tail. Why: scanning strings byte by byte (keys,
/// event times) was 7 % of the instructions of replaying the strait scene. A test holds
/// this to the table on every position of random strings.
fn string_stop(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let m = marks_eq(x, b'"') | marks_eq(x, b'\\') | control;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| STRING_STOP[c as usize])
        .map(|p| i + p)
}

#[derive(Clone, Copy)]
pub struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Lexer { b, i: 0 }
    }

    fn ws(&mut self) {
        // Contacts are compact JSON: most calls find no whitespace, so one comparison
        // decides before the loop.
        if self.b.get(self.i).is_none_or(|&c| c > b' ') {
            return;
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// Skips whitespace, then takes `c` if it comes next.
    pub fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Whitespace only up to the end of the input.
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.b.len()
    }

    /// What comes next after whitespace, without taking it.
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// A string with no escapes and no control characters.
    pub fn string(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.raw_string()?).ok()
    }

    /// The bytes of a string with no escapes and no control characters, not checked as
    /// UTF-8: enough to compare a key with the names vigie knows (which are ASCII), or to
    /// read a time in the contract's form.
    #[inline]
    pub fn raw_string(&mut self) -> Option<&'a [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        let len = string_stop(&self.b[start..])?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        Some(&self.b[start..start + len])
    }

    /// A number in JSON's grammar, `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`,
    /// finite once read.
    ///
    /// Up to 15 significant digits with up to 22 decimals and no exponent (every number a
    /// contact carries) is m / 10^k with m and 10^k exact in an f64: one IEEE division,
    /// hence correctly rounded, the same value serde_json and `str::parse` give (Clinger's
    /// fast path). Anything else goes through `str::parse`.
    fn number(&mut self) -> Option<f64> {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let (mut m, mut ndigits) = (0u64, 0u32);
        // `m` is used only when there are at most 15 digits, so it may wrap beyond that.
        let digits = |i: &mut usize, m: &mut u64, n: &mut u32| {
            let s = *i;
            while let Some(&c) = b.get(*i) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                *m = m.wrapping_mul(10).wrapping_add(d as u64);
                *i += 1;
            }
            *n += (*i - s) as u32;
            *i > s
        };
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i, &mut m, &mut ndigits);
            }
            _ => return None,
        }
        let mut decimals = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let before = ndigits;
            if !digits(&mut i, &mut m, &mut ndigits) {
                return None;
            }
            decimals = ndigits - before;
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = b.get(i) {
            exponent = true;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let (mut ignored_m, mut ignored_n) = (0, 0);
            if !digits(&mut i, &mut ignored_m, &mut ignored_n) {
                return None;
            }
        }
        let v = if !exponent && ndigits <= 15 && decimals <= 22 {
            let v = m as f64 / POW10[decimals as usize];
            if negative {
                -v
            } else {
                v
            }
        } else {
            // ASCII by construction.
            let v: f64 = std::str::from_utf8(&b[start..i]).ok()?.parse().ok()?;
            if !v.is_finite() {
                return None;
            }
            v
        };
        self.i = i;
        Some(v)
    }

    /// A scalar; `None` for an object, an array or anything malformed.
    pub fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b't' => self.word(b"true").then_some(Scalar::Bool(true)),
            b'f' => self.word(b"false").then_some(Scalar::Bool(false)),
            b'n' => self.word(b"null").then_some(Scalar::Null),
            _ => self.number().map(Scalar::Num),
        }
    }

    fn word(&mut self, w: &[u8]) -> bool {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            true
        } else {
            false
        }
    }

    /// Reads an object, calling `member(self, key)` to read each value. Keys are bytes, not
    /// checked as UTF-8; a key that is not valid UTF-8 matches no name and its value is
    /// then ignored, as serde ignores an unknown field. (serde_json would reject the whole
    /// payload for the invalid UTF-8, so a key with non-ASCII bytes gives up instead.)
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.raw_string()?;
            if !key.is_ascii() {
                return None;
            }
            if !self.eat(b':') {
                return None;
            }
            member(self, key)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }

    /// Reads an array, calling `element(self)` to read each element.
    pub fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            element(self)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b']').then_some(());
        }
    }
}

/// Marks field `bit` as seen; `None` if it was already (serde rejects duplicate fields, so
/// the slow path must give the answer).
pub fn once(seen: &mut u32, bit: u32) -> Option<()> {
    let m = 1 << bit;
    if *seen & m != 0 {
        return None;
    }
    *seen |= m;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(s: &str) -> Option<Scalar<'_>> {
        let mut l = Lexer::new(s.as_bytes());
        let v = l.scalar()?;
        l.at_end().then_some(v)
    }

    #[test]
    fn numbers_follow_json_and_agree_with_serde_json() {
        for s in [
            "0",
            "-0",
            "1",
            "-1",
            "1.5",
            "-1.5e3",
            "2E-2",
            "1e+2",
            "123456789012345678901",
            "18446744073709551616",
            "9007199254740993",
            "0.1",
            "50.870878",
            "1.7976931348623157e308",
            "4.9e-324",
            "1e-400",
            "0.000",
            "-0.0",
            "123456789012345",
            "1234567890123456",
            "0.1234567890123456789012",
            "99999999999999.9",
            "-180.000000",
        ] {
            let ours = match scalar(s) {
                Some(Scalar::Num(v)) => v,
                other => panic!("{s}: {other:?}"),
            };
            let theirs: f64 = serde_json::from_str(s).unwrap();
            assert_eq!(ours.to_bits(), theirs.to_bits(), "{s}");
        }
        for s in [
            "01", "+1", "1.", ".5", "1e", "1e+", "-", "NaN", "inf", "0x10", "1e400", "--1", "1.5.2",
        ] {
            assert!(scalar(s).is_none(), "{s} accepted");
        }
    }

    /// The word-at-a-time scanner against the table, at every start and length of random
    /// bytes biased towards the bytes that stop a string.
    #[test]
    fn string_stop_agrees_with_the_table() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pick = [
            b'"',
            b'\\',
            0x00,
            0x1f,
            0x20,
            0x7f,
            0x80,
            0xff,
            b'a',
            0x21,
            0x5c - 1,
        ];
        for _ in 0..2_000 {
            let n = rng.random_range(0..40);
            let b: Vec<u8> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.1) {
                        pick[rng.random_range(0..pick.len())]
                    } else {
                        rng.random_range(0x20..=0xff)
                    }
                })
                .collect();
            for s in 0..=b.len() {
                let want = b[s..].iter().position(|&c| STRING_STOP[c as usize]);
                assert_eq!(string_stop(&b[s..]), want, "{:?}", &b[s..]);
            }
        }
    }

    /// Random numbers (integer and fraction parts of 1 to 20 digits, signs, exponents,
    /// what follows them, including the bytes either side of the digits, `/` and `:`),
    /// read as serde_json reads them, bit for bit, and read to their end.
    #[test]
    fn random_numbers_agree_with_serde_json() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let digits = |rng: &mut rand::rngs::StdRng, n: usize| -> String {
            (0..n)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect()
        };
        for _ in 0..50_000 {
            let mut s = String::new();
            if rng.random_bool(0.3) {
                s.push('-');
            }
            let n = rng.random_range(1..20);
            let int = digits(&mut rng, n);
            s += if int.len() > 1 {
                int.trim_start_matches('0')
            } else {
                &int
            };
            if s.is_empty() || s == "-" {
                s.push('7');
            }
            if rng.random_bool(0.8) {
                s.push('.');
                let n = rng.random_range(1..21);
                s += &digits(&mut rng, n);
            }
            if rng.random_bool(0.1) {
                s += &format!("e{}", rng.random_range(-30..30));
            }
            let tails = [",", "}", "]", " ", ",\"x\":1}", "", ":", "/", ":1"];
            let tail = tails[rng.random_range(0..tails.len())];
            let text = format!("{s}{tail}");
            let mut l = Lexer::new(text.as_bytes());
            let ours = l.number().map(f64::to_bits);
            let theirs: f64 = serde_json::from_str(&s).unwrap();
            assert_eq!(ours, Some(theirs.to_bits()), "{text}");
            assert_eq!(&text[l.i..], tail, "{text}");
        }
    }

    #[test]
    fn strings_with_escapes_or_control_characters_are_left_to_serde() {
        assert_eq!(scalar(r#""AIS""#), Some(Scalar::Str("AIS")));
        assert_eq!(scalar(r#""é ☃""#), Some(Scalar::Str("é ☃")));
        assert!(scalar(r#""a\"b""#).is_none());
        assert!(scalar(r#""a\nb""#).is_none());
        assert!(scalar("\"a\tb\"").is_none());
        assert!(scalar(r#""open"#).is_none());
        assert_eq!(scalar(" true "), Some(Scalar::Bool(true)));
        assert_eq!(scalar("null"), Some(Scalar::Null));
        assert!(scalar("nul").is_none());
        assert!(scalar("{}").is_none());
    }

    #[test]
    fn objects_and_arrays() {
        let mut l = Lexer::new(br#" { "a" : 1 , "b":[{"c":"d"}, {}], "e": null } "#);
        let mut got = vec![];
        l.object(|l, k| {
            let k = std::str::from_utf8(k).unwrap();
            if k == "b" {
                l.array(|l| {
                    l.object(|l, k| {
                        got.push((String::from_utf8(k.to_vec()).unwrap(), l.scalar()?));
                        Some(())
                    })
                })
            } else {
                got.push((k.to_string(), l.scalar()?));
                Some(())
            }
        })
        .unwrap();
        assert!(l.at_end());
        assert_eq!(
            got,
            vec![
                ("a".into(), Scalar::Num(1.0)),
                ("c".into(), Scalar::Str("d")),
                ("e".into(), Scalar::Null)
            ]
        );
        for bad in [
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1"#,
            r#"{a:1}"#,
            r#"[1 2]"#,
        ] {
            let mut l = Lexer::new(bad.as_bytes());
            let r = if bad.starts_with('[') {
                l.array(|l| l.scalar().map(|_| ()))
            } else {
                l.object(|l, _| l.scalar().map(|_| ()))
            };
            assert!(r.is_none(), "{bad}");
        }
    }
}
