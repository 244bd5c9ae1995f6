//! Text that came from outside and is stored or shown: what must not be in it.

/// Whether `c` is a control character, a bidirectional formatting character (Unicode's
/// `Bidi_Control`: U+061C, U+200E/F, U+202A–E, U+2066–9) or an invisible one (the soft hyphen,
/// zero-width spaces and joiners, word joiner and invisible operators, the byte-order mark, line
/// and paragraph separators, tag characters). Each can make text read as something other than
/// what it holds: a right-to-left override turns `gnp.exe` into `exe.png`, and a zero-width space
/// makes `ada@example.com\u{200B}` list exactly as `ada@example.com`.
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// `text` without its control and bidirectional formatting characters, cut to `max_chars`
/// characters; a cut is marked with `…`.
pub fn cleaned(text: &str, max_chars: usize) -> String {
    let mut kept = text.chars().filter(|c| !is_hidden_control(*c));
    let mut out: String = kept.by_ref().take(max_chars).collect();
    if kept.next().is_some() {
        out.push('…');
    }
    out
}

/// Whether `text` is not blank, holds at most `max_chars` characters and none of them hidden
/// ([`is_hidden_control`]): what an identifier a caller gives must be.
pub fn is_printable(text: &str, max_chars: usize) -> bool {
    !text.trim().is_empty() && text.chars().count() <= max_chars && !text.chars().any(is_hidden_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidirectional_characters_are_removed_and_the_rest_kept() {
        let text = "\u{202E}<b>a\u{7}b</b>\u{2066}c\u{200F}\nd\u{061C}é";
        assert_eq!(cleaned(text, 100), "<b>ab</b>cdé");
    }

    #[test]
    fn invisible_characters_are_removed_too() {
        let text = "ada\u{200B}@exa\u{00AD}mple\u{FEFF}.com\u{2028}\u{2060}\u{E0041}";
        assert_eq!(cleaned(text, 100), "ada@example.com");
    }

    #[test]
    fn a_cut_counts_characters_and_is_marked() {
        assert_eq!(cleaned("éééé", 4), "éééé");
        assert_eq!(cleaned("ééééé", 4), "éééé…");
        assert_eq!(cleaned("\u{202E}abc", 3), "abc", "removed characters do not count");
    }

    #[test]
    fn a_printable_identifier_is_not_blank_not_too_long_and_hides_nothing() {
        assert!(is_printable("client-7", 255) && is_printable(&"é".repeat(3), 3));
        for bad in ["", "  ", "a\u{7}", "a\u{202E}b", "abcd"] {
            assert!(!is_printable(bad, 3), "{bad:?}");
        }
    }
}
