//! Message text as Telegram treats it: lengths in UTF-16 code units,
//! `bot_command` entities, and the checks `parse_mode` makes.

use serde::Serialize;

/// The longest message text, UTF-16 code units after entity parsing.
pub const MAX_MESSAGE_LENGTH: usize = 4096;
/// The longest `text` argument accepted at all, bytes (`1 << 15`).
pub const MAX_TEXT_BYTES: usize = 1 << 15;

/// A `MessageEntity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entity {
    /// Offset in UTF-16 code units.
    pub offset: usize,
    /// Length in UTF-16 code units.
    pub length: usize,
    /// The entity type (`bot_command`).
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Length in UTF-16 code units, as Telegram counts.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The `bot_command` entities of a text: `/word` or `/word@botname` at the
/// start or after whitespace, the word of `[A-Za-z0-9_]`, at most 64 long.
pub fn bot_commands(text: &str) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut offset16 = 0;
    let mut prev_space = true;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && prev_space {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > i + 1 && j - i - 1 <= 64 {
                if j < chars.len() && chars[j] == '@' {
                    let mut k = j + 1;
                    while k < chars.len() && (chars[k].is_ascii_alphanumeric() || chars[k] == '_') {
                        k += 1;
                    }
                    if k > j + 1 {
                        j = k;
                    }
                }
                let ends_well = j == chars.len() || chars[j].is_whitespace();
                if ends_well {
                    let length = j - i; // ASCII only: one code unit each
                    out.push(Entity {
                        offset: offset16,
                        length,
                        kind: "bot_command",
                    });
                    offset16 += length;
                    i = j;
                    prev_space = false;
                    continue;
                }
            }
        }
        prev_space = c.is_whitespace();
        offset16 += c.len_utf16();
        i += 1;
    }
    out
}

/// A parse mode's complaint, worded as Telegram's `can't parse entities: …`.
pub type ParseError = String;

/// The text a message shows for `text` in `parse_mode` (markup removed), or
/// Telegram's description of why not (`Bad Request: …`).
pub fn render(text: &str, parse_mode: &str) -> Result<String, String> {
    match parse_mode.to_ascii_lowercase().as_str() {
        "" | "none" => Ok(text.to_owned()),
        "html" => strip_html(text).map_err(|e| format!("Bad Request: can't parse entities: {e}")),
        "markdownv2" => {
            strip_markdown_v2(text).map_err(|e| format!("Bad Request: can't parse entities: {e}"))
        }
        "markdown" => Ok(text
            .chars()
            .filter(|c| !matches!(c, '*' | '_' | '`'))
            .collect()),
        _ => Err("Bad Request: unsupported parse_mode".into()),
    }
}

const HTML_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
];

fn strip_html(text: &str) -> Result<String, ParseError> {
    let mut out = String::new();
    let mut open: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let Some(end) = text[i..].find('>').map(|e| i + e) else {
                    return Err(format!("Unclosed start tag at byte offset {i}"));
                };
                let inner = &text[i + 1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match open.pop() {
                        Some(top) if top == name || name.is_empty() => {}
                        Some(top) => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {i}, expected \"</{top}>\", found \"</{name}>\""
                            ))
                        }
                        None => {
                            return Err(format!(
                                "Unexpected end tag at byte offset {i}"
                            ))
                        }
                    }
                } else {
                    let name = inner
                        .split(|c: char| c.is_whitespace() || c == '/')
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !HTML_TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    open.push(name);
                }
                i = end + 1;
            }
            b'&' => {
                let rest = &text[i..];
                let decoded = [
                    ("&lt;", '<'),
                    ("&gt;", '>'),
                    ("&amp;", '&'),
                    ("&quot;", '"'),
                ]
                .iter()
                .find(|(name, _)| rest.starts_with(name));
                if let Some((name, c)) = decoded {
                    out.push(*c);
                    i += name.len();
                } else {
                    out.push('&');
                    i += 1;
                }
            }
            _ => {
                let c = text[i..].chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    if let Some(top) = open.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{top}\""
        ));
    }
    Ok(out)
}

const MARKDOWN_V2_RESERVED: &str = "_*[]()~`>#+-=|{}.!";

fn strip_markdown_v2(text: &str) -> Result<String, ParseError> {
    let mut out = String::new();
    let mut open: Vec<(&'static str, usize)> = Vec::new();
    let mut in_link_text = false;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let next = chars.get(i + 1).map(|&(_, c)| c);
        let in_code = matches!(open.last(), Some(("Code" | "Pre", _)));
        if c == '\\' {
            match next {
                Some(n) if (n as u32) >= 1 && (n as u32) <= 126 => {
                    out.push(n);
                    i += 2;
                    continue;
                }
                _ => {
                    out.push(c);
                    i += 1;
                    continue;
                }
            }
        }
        if in_code && c != '`' {
            out.push(c);
            i += 1;
            continue;
        }
        let (kind, width): (&'static str, usize) = match (c, next) {
            ('_', Some('_')) => ("Underline", 2),
            ('|', Some('|')) => ("Spoiler", 2),
            ('`', _) if text[at..].starts_with("```") => ("Pre", 3),
            ('`', _) => ("Code", 1),
            ('*', _) => ("Bold", 1),
            ('_', _) => ("Italic", 1),
            ('~', _) => ("Strikethrough", 1),
            ('[', _) if !in_link_text => {
                in_link_text = true;
                i += 1;
                continue;
            }
            (']', _) if in_link_text => {
                in_link_text = false;
                if next != Some('(') {
                    return Err(format!(
                        "Can't find end of TextUrl entity at byte offset {at}"
                    ));
                }
                let Some(close) = chars[i + 1..].iter().position(|&(_, c)| c == ')') else {
                    return Err(format!("Can't find end of a URL at byte offset {}", at + 1));
                };
                i += close + 2;
                continue;
            }
            ('>', _) if at == 0 || text[..at].ends_with('\n') => {
                i += 1;
                continue;
            }
            _ if MARKDOWN_V2_RESERVED.contains(c) => {
                return Err(format!(
                    "Character '{c}' is reserved and must be escaped with the preceding '\\'"
                ));
            }
            _ => {
                out.push(c);
                i += 1;
                continue;
            }
        };
        match open.iter().rposition(|&(k, _)| k == kind) {
            Some(pos) if pos + 1 == open.len() => {
                open.pop();
            }
            Some(_) => {
                let (top, top_at) = open.last().copied().unwrap_or((kind, at));
                return Err(format!(
                    "Can't find end of {top} entity at byte offset {top_at}"
                ));
            }
            None => open.push((kind, at)),
        }
        i += width;
    }
    if let Some((kind, at)) = open.pop() {
        return Err(format!(
            "Can't find end of {kind} entity at byte offset {at}"
        ));
    }
    if in_link_text {
        return Err("Can't find end of TextUrl entity".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn utf16_lengths() {
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2);
    }

    #[test]
    fn start_command_is_an_entity() {
        assert_eq!(
            bot_commands("/start abc"),
            vec![Entity {
                offset: 0,
                length: 6,
                kind: "bot_command"
            }]
        );
        assert_eq!(bot_commands("/start@signet_bot")[0].length, 17);
        assert_eq!(bot_commands("😀 /help")[0].offset, 3);
        assert!(bot_commands("a/b").is_empty());
        assert!(bot_commands("/ x").is_empty());
        assert!(bot_commands("hello").is_empty());
    }

    #[test]
    fn parse_modes() {
        assert_eq!(render("<b>hi</b> &lt;3", "HTML").unwrap(), "hi <3");
        assert!(render("<blink>x</blink>", "html")
            .unwrap_err()
            .contains("Unsupported start tag \"blink\""));
        assert!(render("<b>x", "html").is_err());
        assert!(render("<b>x</i>", "html").is_err());
        assert_eq!(render("*bold* 1\\.5", "MarkdownV2").unwrap(), "bold 1.5");
        assert_eq!(
            render("Code: `a.b` [link](https://x.y/z)", "MarkdownV2").unwrap(),
            "Code: a.b link"
        );
        assert_eq!(
            render("1.5", "MarkdownV2").unwrap_err(),
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
        );
        assert!(render("*open", "MarkdownV2")
            .unwrap_err()
            .contains("Can't find end of Bold entity at byte offset 0"));
        assert_eq!(
            render("x", "rich").unwrap_err(),
            "Bad Request: unsupported parse_mode"
        );
        assert_eq!(render("a.b", "").unwrap(), "a.b");
    }
}
