//! Text helpers that keep renderings within what GitHub accepts: byte limits that cut at line
//! boundaries with code fences closed, the Unicode filter for annotations, ANSI stripping and
//! Markdown escaping.

/// Removes ANSI colour and cursor codes (Playwright puts them in messages, stacks and frames).
pub fn strip_ansi(text: &str) -> String {
    strip_ansi_escapes::strip_str(text)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// At most `max` characters, ending in `…` when shortened.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Replaces characters above U+FFFF (most emoji) with the escape `\u{1F600}`: GitHub rejects
/// them in annotation fields with a 422 for the whole request.
pub fn restrict_unicode(text: &str) -> String {
    if text.chars().all(|c| (c as u32) <= 0xFFFF) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if (c as u32) > 0xFFFF {
            out.push_str(&format!("\\u{{{:X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes Markdown punctuation so that a test title or spec path renders as written.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// `content` in a fenced code block whose fence is longer than any backtick run inside, so
/// that no content can close it early.
pub fn code_block(content: &str) -> String {
    let longest_run = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n", content.trim_end_matches('\n'))
}

/// Cuts Markdown to at most `max` bytes at a line boundary, closes a code fence left open by
/// the cut, and appends `note` (which must fit; it is itself cut if it does not).
pub fn truncate_markdown(markdown: &str, max: usize, note: &str) -> String {
    if markdown.len() <= max {
        return markdown.to_owned();
    }
    // Room for the note, a closing fence of up to 16 backticks, and newlines.
    let reserve = note.len() + 20;
    let budget = max.saturating_sub(reserve);
    let cut = truncate_bytes(markdown, budget);
    let cut = match cut.rfind('\n') {
        Some(end) => &cut[..=end],
        None => "",
    };
    let mut out = cut.to_owned();
    if let Some(fence) = open_fence(cut) {
        out.push_str(&fence);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    truncate_bytes(&out, max).to_owned()
}

/// The fence of a code block that `markdown` opens but does not close.
fn open_fence(markdown: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        if ticks < 3 {
            continue;
        }
        match &open {
            None => open = Some("`".repeat(ticks)),
            Some(fence) if ticks >= fence.len() && trimmed[ticks..].trim().is_empty() => {
                open = None
            }
            Some(_) => {}
        }
    }
    open
}

/// Whether every code fence in `markdown` is closed.
pub fn fences_balanced(markdown: &str) -> bool {
    open_fence(markdown).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ansi() {
        assert_eq!(
            strip_ansi("\u{1b}[2mexpect(\u{1b}[22m\u{1b}[31mlocator\u{1b}[39m)"),
            "expect(locator)"
        );
    }

    #[test]
    fn byte_truncation_never_splits_a_character() {
        let text = "ab€€€"; // € is 3 bytes
        assert_eq!(truncate_bytes(text, 4), "ab");
        assert_eq!(truncate_bytes(text, 5), "ab€");
        assert_eq!(truncate_bytes(text, 100), text);
        let emoji = "😀😀";
        assert_eq!(truncate_bytes(emoji, 7), "😀");
    }

    #[test]
    fn chars_truncation_marks_the_cut() {
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("ab", 4), "ab");
        assert_eq!(truncate_chars("ééééé", 3).chars().count(), 3);
    }

    #[test]
    fn unicode_above_the_bmp_is_escaped() {
        assert_eq!(restrict_unicode("ok 🎉 done"), "ok \\u{1F389} done");
        assert_eq!(restrict_unicode("äöü € 中文"), "äöü € 中文");
        assert!(restrict_unicode("👩‍💻").chars().all(|c| (c as u32) <= 0xFFFF));
    }

    #[test]
    fn code_blocks_cannot_be_closed_by_their_content() {
        let block = code_block("a ``` b\n````");
        assert!(block.starts_with("`````text\n"));
        assert!(block.ends_with("\n`````\n"));
        assert!(fences_balanced(&block));
    }

    #[test]
    fn markdown_truncation_cuts_lines_and_closes_fences() {
        let mut md = String::from("# head\n");
        for i in 0..200 {
            md.push_str(&code_block(&format!("line {i} ünïcødé 😀\nmore")));
        }
        for max in [50, 100, 333, 1000, 4097] {
            let cut = truncate_markdown(&md, max, "_cut_");
            assert!(cut.len() <= max, "{max}: {}", cut.len());
            assert!(fences_balanced(&cut), "{max}: {cut}");
            assert!(cut.ends_with("_cut_"), "{max}");
        }
        assert_eq!(truncate_markdown("short", 100, "note"), "short");
    }

    #[test]
    fn escapes_markdown() {
        assert_eq!(
            escape_markdown("a|b *c* [d](e) <x>"),
            "a\\|b \\*c\\* \\[d\\](e) \\<x\\>"
        );
    }
}
