//! Text that people read: wallet labels, API client names and tenants are
//! shown on approval pages, in the console and in the audit log, so they may
//! hold only characters that look like what they are. Invisible or
//! reordering characters would let a name pose as another (`U+202E`
//! RIGHT-TO-LEFT OVERRIDE before `moc.live` makes it read `evil.com`; a
//! zero-width space makes two equal-looking names differ).
//!
//! The rule, by Unicode general category: refused are format (`Cf`: bidi
//! overrides and isolates, zero-width characters), private-use (`Co`),
//! unassigned (`Cn`, noncharacters included), control (`Cc`), surrogate
//! (`Cs`) and separator (`Zs`, `Zl`, `Zp`) characters, except the ASCII
//! space. Letters, marks, numbers, punctuation and symbols of any script pass.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

use super::{Error, Result};

/// What the refusal message says the rule is.
const RULE: &str =
    "format, private-use, unassigned, control or separator characters other than the space";

/// Why a person-visible text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextRefusal {
    /// Longer than the field allows (in characters).
    TooLong {
        /// The most characters allowed.
        max: usize,
    },
    /// A character of a refused general category.
    HiddenCharacter {
        /// The character.
        character: char,
        /// Its general category.
        category: GeneralCategory,
        /// Its position in the text, in characters, counting from 1.
        position: usize,
    },
}

/// The short name of a refused general category (`Cf`, `Co`, …) and what
/// it is.
#[must_use]
pub fn category_name(category: GeneralCategory) -> &'static str {
    match category {
        GeneralCategory::Format => "format",
        GeneralCategory::PrivateUse => "private-use",
        GeneralCategory::Unassigned => "unassigned",
        GeneralCategory::Control => "control",
        GeneralCategory::Surrogate => "surrogate",
        GeneralCategory::SpaceSeparator => "space separator",
        GeneralCategory::LineSeparator => "line separator",
        GeneralCategory::ParagraphSeparator => "paragraph separator",
        _ => "visible",
    }
}

/// Whether `c` is refused in a person-visible text.
#[must_use]
pub fn is_refused(c: char) -> bool {
    c != ' '
        && matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::PrivateUse
                | GeneralCategory::Unassigned
                | GeneralCategory::Control
                | GeneralCategory::Surrogate
                | GeneralCategory::SpaceSeparator
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// Checks a person-visible text: at most `max` characters, none of them
/// refused (see the module's rule). The first refused character is named.
pub fn check_visible(text: &str, max: usize) -> Result<(), TextRefusal> {
    if text.chars().count() > max {
        return Err(TextRefusal::TooLong { max });
    }
    match text.chars().enumerate().find(|(_, c)| is_refused(*c)) {
        Some((i, c)) => Err(TextRefusal::HiddenCharacter {
            character: c,
            category: c.general_category(),
            position: i + 1,
        }),
        None => Ok(()),
    }
}

/// [`check_visible`] for the request field `field` (`label`, `name`, …):
/// a refusal is a 400 `bad_request` that states the rule and names the
/// character, e.g. "`label` may not contain format, private-use,
/// unassigned, control or separator characters other than the space:
/// U+202E (format) at position 3".
pub fn visible_field(field: &str, text: &str, max: usize) -> Result<()> {
    check_visible(text, max).map_err(|refusal| match refusal {
        TextRefusal::TooLong { max } => {
            Error::bad_request(format!("`{field}` is at most {max} characters"))
        }
        TextRefusal::HiddenCharacter {
            character,
            category,
            position,
        } => Error::bad_request(format!(
            "`{field}` may not contain {RULE}: U+{:04X} ({}) at position {position}",
            u32::from(character),
            category_name(category)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_at(text: &str) -> (GeneralCategory, usize) {
        match check_visible(text, 128) {
            Err(TextRefusal::HiddenCharacter {
                category, position, ..
            }) => (category, position),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn visible_text_of_any_script_passes() {
        for ok in [
            "",
            "Payroll wallet",
            "Zahlungen für März",
            "Кошелёк №1",
            "مدفوعات",
            "支払い 2024",
            "café (e + combining acute: e\u{301})",
            "coffee ☕ & tea 🍵",
            "a-b_c.d/e:f'g\"h",
        ] {
            assert_eq!(check_visible(ok, 128), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn refuses_format_characters_bidi_overrides_and_zero_width() {
        assert_eq!(refused_at("ab\u{202E}cd"), (GeneralCategory::Format, 3));
        assert_eq!(refused_at("\u{2066}x"), (GeneralCategory::Format, 1));
        assert_eq!(refused_at("pay\u{200B}pal"), (GeneralCategory::Format, 4));
        assert_eq!(refused_at("x\u{FEFF}"), (GeneralCategory::Format, 2));
    }

    #[test]
    fn refuses_private_use_characters() {
        assert_eq!(refused_at("a\u{E000}"), (GeneralCategory::PrivateUse, 2));
        assert_eq!(refused_at("\u{F0000}"), (GeneralCategory::PrivateUse, 1));
    }

    #[test]
    fn refuses_unassigned_code_points_and_noncharacters() {
        assert_eq!(refused_at("a\u{FFFF}"), (GeneralCategory::Unassigned, 2));
        assert_eq!(refused_at("\u{FDD0}"), (GeneralCategory::Unassigned, 1));
        assert_eq!(refused_at("\u{E0080}"), (GeneralCategory::Unassigned, 1));
    }

    #[test]
    fn refuses_control_characters() {
        assert_eq!(refused_at("a\nb"), (GeneralCategory::Control, 2));
        assert_eq!(refused_at("\u{0}"), (GeneralCategory::Control, 1));
        assert_eq!(refused_at("x\u{85}"), (GeneralCategory::Control, 2));
        assert_eq!(refused_at("tab\there"), (GeneralCategory::Control, 4));
    }

    #[test]
    fn refuses_surrogates_which_a_rust_string_cannot_hold() {
        // A `char` is never a surrogate and a JSON body with a lone one is
        // refused before it becomes a string (tested over HTTP); the
        // category is refused all the same.
        assert!(char::from_u32(0xD800).is_none());
        assert_eq!(category_name(GeneralCategory::Surrogate), "surrogate");
    }

    #[test]
    fn refuses_separators_other_than_the_ascii_space() {
        assert_eq!(
            refused_at("a\u{00A0}b"),
            (GeneralCategory::SpaceSeparator, 2)
        );
        assert_eq!(
            refused_at("a\u{3000}b"),
            (GeneralCategory::SpaceSeparator, 2)
        );
        assert_eq!(refused_at("a\u{2028}"), (GeneralCategory::LineSeparator, 2));
        assert_eq!(
            refused_at("a\u{2029}"),
            (GeneralCategory::ParagraphSeparator, 2)
        );
        assert_eq!(check_visible("a b", 128), Ok(()));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(refused_at("äöü\u{202E}"), (GeneralCategory::Format, 4));
    }

    #[test]
    fn refuses_text_longer_than_the_field() {
        assert_eq!(check_visible(&"é".repeat(128), 128), Ok(()));
        assert_eq!(
            check_visible(&"é".repeat(129), 128),
            Err(TextRefusal::TooLong { max: 128 })
        );
    }

    #[test]
    fn the_message_states_the_rule_and_names_the_character() {
        let e = visible_field("label", "ab\u{202E}c", 128).unwrap_err();
        assert_eq!(e.code(), "bad_request");
        assert_eq!(
            e.to_string(),
            "`label` may not contain format, private-use, unassigned, control or separator characters other than the space: U+202E (format) at position 3"
        );
        let e = visible_field("name", &"x".repeat(129), 128).unwrap_err();
        assert_eq!(e.to_string(), "`name` is at most 128 characters");
    }
}
