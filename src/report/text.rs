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

/// Between a character that would start something and what follows, so that it cannot.
const JOINER: char = '\u{200D}';

/// Untrusted text as inline Markdown that renders as written and stays inside its element:
/// punctuation is escaped (no emphasis, link, image, HTML, table cell or code), line breaks
/// become spaces (no new block), `$` cannot open math, and a zero-width joiner keeps `@name`
/// from mentioning, `#123` from linking an issue and `https://…` or `www.…` from becoming a
/// link. Control characters are dropped.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '!' | '&' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '#' => {
                out.push_str("\\#");
                if chars.peek().is_some_and(char::is_ascii_alphanumeric) {
                    out.push(JOINER);
                }
            }
            '@' => {
                out.push('@');
                out.push(JOINER);
            }
            ':' if chars.peek() == Some(&'/') => {
                out.push(':');
                out.push(JOINER);
            }
            '.' if out.to_ascii_lowercase().ends_with("www") => {
                out.push(JOINER);
                out.push('.');
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            _ => out.push(c),
        }
    }
    out
}

/// Untrusted text as an inline code span: a fence longer than any backtick run inside, spaces
/// for line breaks, nothing interpreted.
pub fn code_span(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || text.trim().is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Markdown as the content of a table cell: every pipe that is not already escaped gets a
/// backslash (GitHub splits cells before it reads code spans, so a pipe inside one would end
/// the cell too). The text is one line already.
pub fn table_cell(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 4);
    let mut backslashes = 0;
    for c in markdown.chars() {
        if c == '|' && backslashes % 2 == 0 {
            out.push('\\');
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
        out.push(c);
    }
    out
}

/// A link target from untrusted input: parsed, `http` or `https` only, re-serialised (which
/// percent-encodes spaces, quotes and angle brackets) with parentheses encoded too, so that no
/// target can close its link early (a destination ends only at a space or an unbalanced `)`).
/// Nothing else is re-encoded: signed media URLs must keep their query as signed. `None` for
/// anything else.
pub fn safe_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return None;
    }
    Some(parsed.as_str().replace('(', "%28").replace(')', "%29"))
}

/// `[text](url)` with `text` already Markdown (escaped where untrusted); just `text` when the
/// URL is not one a link may point to.
pub fn link(text: &str, url: &str) -> String {
    match safe_url(url) {
        Some(url) => format!("[{text}]({url})"),
        None => text.to_owned(),
    }
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
    fn table_cells_escape_only_bare_pipes() {
        assert_eq!(table_cell("a | b"), r"a \| b");
        assert_eq!(table_cell(r"a \| b"), r"a \| b");
        assert_eq!(table_cell(r"a \\| b"), r"a \\\| b");
        assert_eq!(table_cell("`x|y`"), r"`x\|y`");
    }

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
        assert_eq!(escape_markdown("@octocat"), "@\u{200D}octocat");
        assert_eq!(escape_markdown("costs $5 $x$"), "costs \\$5 \\$x\\$");
        assert_eq!(escape_markdown("fixes #12"), "fixes \\#\u{200D}12");
        assert_eq!(
            escape_markdown("see https://x.y"),
            "see https:\u{200D}//x.y"
        );
        assert_eq!(escape_markdown("WWW.x.y"), "WWW\u{200D}.x.y");
        assert_eq!(escape_markdown("a\nb\u{7}c"), "a bc");
    }

    #[test]
    fn code_spans_hold_any_text() {
        assert_eq!(code_span("main"), "`main`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x`"), "`` `x` ``");
        assert_eq!(code_span("a\nb"), "`a b`");
    }

    #[test]
    fn links_take_only_http_urls_and_cannot_be_closed_early() {
        assert_eq!(
            link("t", "https://app.currents.dev/run/1"),
            "[t](https://app.currents.dev/run/1)"
        );
        assert_eq!(
            link("t", "https://x.example/a) ![p](https://evil/p.png"),
            "[t](https://x.example/a%29%20![p]%28https://evil/p.png)"
        );
        assert_eq!(link("t", "javascript:alert(1)"), "t");
        assert_eq!(link("t", "data:text/html,x"), "t");
        assert_eq!(link("t", "not a url"), "t");
        assert_eq!(
            link("t", "https://x.example/a b\"<>"),
            "[t](https://x.example/a%20b%22%3C%3E)"
        );
    }
}
