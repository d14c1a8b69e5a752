//! `application/x-www-form-urlencoded`, both ways (query strings, form bodies): one
//! implementation for ingest's handshakes, the OAuth flow and provider API calls.

/// Pairs in order, percent- and `+`-decoded. Never panics; invalid escapes stay as-is.
pub fn pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent- and `+`-decoding (lossy UTF-8).
pub fn decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serialises pairs (unreserved characters kept, space as `+`).
pub fn encode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(k, &mut out);
        out.push('=');
        encode_component(v, &mut out);
    }
    out
}

fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways() {
        let fields = [("grant_type", "refresh_token"), ("x", "a b&c=d/é")];
        let encoded = encode(&fields);
        assert_eq!(encoded, "grant_type=refresh_token&x=a+b%26c%3Dd%2F%C3%A9");
        let back = pairs(&encoded);
        assert_eq!(back[1], ("x".to_string(), "a b&c=d/é".to_string()));
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("a%20b+c"), "a b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(
            pairs("a&&b=1"),
            vec![("a".into(), "".into()), ("b".into(), "1".into())]
        );
    }
}
