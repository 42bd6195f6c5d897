//! Prompts and menus cut to the terminal's width. dialoguer 0.11 redraws a
//! prompt by erasing the rows it thinks it wrote: it counts newlines, and
//! for Select items their bytes, not the rows a long line wraps onto. A
//! label, prompt or message wider than the terminal would leave rows of
//! itself behind at every redraw, so each is cut (or, for messages, broken
//! with newlines) to fit before it reaches dialoguer. A typed answer
//! cannot be cut, so the rows it wrapped onto are erased once it is given.

use console::Term;

/// Columns of a Select prompt line around the question: "? " and " ›".
pub(super) const SELECT_FRAME: usize = 4;
/// Columns of a Select item line around its label: "❯ ".
const ITEM_FRAME: usize = 2;
/// Columns of a Confirm line around the question: "? " and " (y/n) › yes".
pub(super) const CONFIRM_FRAME: usize = 15;

/// Columns of an error line before its text: "✘ ".
pub(super) const ERROR_FRAME: usize = 2;

/// What is left of the terminal's width after `frame` columns, keeping the
/// last column free: a line that fills it wraps early on some terminals.
pub(super) fn room(term: &Term, frame: usize) -> usize {
    usize::from(term.size().1).saturating_sub(frame + 1)
}

/// `text` cut to at most `room` bytes, ending in an ellipsis when cut.
/// Bytes, not columns: dialoguer 0.11 counts an item's bytes to decide how
/// many rows to erase when it redraws a Select, and no character is wider
/// than its UTF-8 bytes, so a label within `room` bytes fits on one row and
/// is erased as one.
const ELLIPSIS: char = '…';

fn fit(text: &str, room: usize) -> String {
    if text.len() <= room {
        return text.to_string();
    }
    let budget = room.saturating_sub(ELLIPSIS.len_utf8());
    let mut out = String::new();
    for c in text.chars() {
        if out.len() + c.len_utf8() > budget {
            break;
        }
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    if room >= ELLIPSIS.len_utf8() {
        out.push(ELLIPSIS);
    }
    out
}

/// `prompt` cut to fit on one line with `frame` columns of dialoguer's own
/// around it; a cut question is first shown whole, above the prompt (a line
/// written once may wrap harmlessly; one that dialoguer redraws must not).
pub(super) fn fit_prompt(term: &Term, prompt: &str, frame: usize) -> String {
    let fitted = fit(prompt, room(term, frame));
    if fitted != prompt {
        let _ = term.write_line(prompt);
    }
    fitted
}

/// `text` broken into rows of at most `room` bytes (at spaces where it
/// can), joined by newlines: dialoguer counts an error's newlines to know
/// how many rows to erase, so a message it shows must not wrap by itself.
pub(super) fn wrap(text: &str, room: usize) -> String {
    let room = room.max(ELLIPSIS.len_utf8() + 1);
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    for word in text.split(' ') {
        let sep = usize::from(!row.is_empty());
        if !row.is_empty() && row.len() + sep + word.len() > room {
            rows.push(std::mem::take(&mut row));
        } else if sep == 1 {
            row.push(' ');
        }
        for c in word.chars() {
            if row.len() + c.len_utf8() > room {
                rows.push(std::mem::take(&mut row));
            }
            row.push(c);
        }
    }
    rows.push(row);
    rows.join("\n")
}

/// Erase a line `width` columns wide, written from the start of a row and
/// wrapped by the terminal, with the cursor on its last row (where typing
/// leaves it), and put the cursor where the line began. Below the cursor is
/// erased too, for an answer ended with the cursor moved back onto an
/// earlier row: then its later rows are below, and as many rows too many
/// are erased above.
pub(super) fn erase_wrapped_line(term: &Term, width: usize) {
    // The terminal is gone if this fails; the prompt reports it next.
    let _ = term.clear_last_lines(rows_above_end(width, usize::from(term.size().1)));
    let _ = term.clear_to_end_of_screen();
}

/// Rows between a wrapped line's first row and the one its end is on. A
/// line exactly filling a row leaves the cursor on that row (the terminal
/// wraps only when the next character comes), hence `width - 1`.
fn rows_above_end(width: usize, columns: usize) -> usize {
    width.saturating_sub(1) / columns.max(1)
}

/// Select labels fitted to the terminal.
pub(super) fn fit_items<S: AsRef<str>>(term: &Term, items: &[S]) -> Vec<String> {
    let room = room(term, ITEM_FRAME);
    items.iter().map(|i| fit(i.as_ref(), room)).collect()
}

#[cfg(test)]
mod tests {
    use super::{fit, rows_above_end, wrap};

    #[test]
    fn labels_are_cut_to_the_room_with_an_ellipsis() {
        assert_eq!(fit("twilio-voice", 12), "twilio-voice");
        assert_eq!(fit("twilio-voice: Express app", 12), "twilio-vo…");
        // Multi-byte characters are never split and count as their bytes.
        assert_eq!(fit("ab—cdefgh", 7), "ab…");
        assert_eq!(fit("ab—cdefgh", 8), "ab—…");
        assert!(fit("x".repeat(100).as_str(), 37).len() <= 37);
        assert_eq!(fit("abcdef", 0), "");
    }

    #[test]
    fn messages_wrap_at_spaces_within_the_room() {
        assert_eq!(
            wrap("expected a DNS name such as x.com", 12),
            "expected a\nDNS name\nsuch as\nx.com"
        );
        assert_eq!(wrap("abcdefghij", 4), "abcd\nefgh\nij");
        for row in wrap(&"word ".repeat(40), 17).lines() {
            assert!(row.len() <= 17, "{row:?}");
        }
    }

    #[test]
    fn a_line_ends_on_the_row_its_last_column_is_on() {
        assert_eq!(rows_above_end(0, 40), 0);
        assert_eq!(rows_above_end(39, 40), 0);
        assert_eq!(rows_above_end(40, 40), 0);
        assert_eq!(rows_above_end(41, 40), 1);
        assert_eq!(rows_above_end(80, 40), 1);
        assert_eq!(rows_above_end(81, 40), 2);
        assert_eq!(rows_above_end(5, 0), 4);
    }
}
